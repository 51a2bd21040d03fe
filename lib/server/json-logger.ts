import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogContext, LogLevel, Logger } from './logger.js';

/** Our levels (Python's names) as pino's. */
const TO_PINO = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', CRITICAL: 'fatal' } as const;
/** pino's level labels as printed: Python's names, lower case. */
const LABELS: Readonly<Record<string, string>> = { debug: 'debug', info: 'info', warn: 'warning', error: 'error', fatal: 'critical' };

/**
 * `--log-format json`: one JSON object per line, through pino:
 * `{"level":"info","time":"2026-11-30T03:12:34.567Z","component":"whisper_server","client":"('127.0.0.1', 5432)","msg":"…"}`.
 * Context fields (`client`, `call_uuid`, …) come from {@link Logger.child}.
 */
export function createJsonLogger(out: NodeJS.WritableStream, level: LogLevel = 'DEBUG', component = 'whisper_server'): Logger {
  const p = pino(
    {
      level: TO_PINO[level],
      base: { component },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: LABELS[label] ?? label }) },
    },
    out as unknown as DestinationStream,
  );
  return wrap(p);
}

function wrap(p: PinoLogger): Logger {
  return {
    debug: (m) => p.debug(m),
    info: (m) => p.info(m),
    warning: (m) => p.warn(m),
    error: (m) => p.error(m),
    critical: (m) => p.fatal(m),
    child: (context: LogContext) => wrap(p.child(context)),
  };
}
