import { Option } from 'commander';
import { createJsonLogger } from '../server/json-logger.js';
import { createLogger, type LogLevel, type Logger } from '../server/logger.js';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `--log-format text|json` (text: SimulStreaming's `date | component | LEVEL | message` lines). */
export function logFormatOption(): Option {
  return new Option('--log-format <format>', 'log lines: text (SimulStreaming\'s) or json (one object per line, for log collectors)')
    .choices([...LOG_FORMATS])
    .default('text');
}

/** The logger the command line asked for. */
export function cliLogger(format: LogFormat, out: NodeJS.WritableStream, level: LogLevel, component: string): Logger {
  return format === 'json' ? createJsonLogger(out, level, component) : createLogger(out, level, component);
}
