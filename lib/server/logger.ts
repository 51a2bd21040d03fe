/** Log levels, as Python's logging names them (SimulStreaming's `--log-level`). */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
/** A log level, as Python's logging names it. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * What a log line is about, as machine-readable fields (`--log-format json` prints them; the text
 * format does not). `client` is the peer as the text lines print it, `call_uuid` a FreeSWITCH call.
 */
export type LogContext = Readonly<Record<string, string | number | boolean>> & {
  /** The server's client, as the text lines print it: `('127.0.0.1', 54321)`. */
  readonly client?: string;
  /** A FreeSWITCH call's `Unique-ID`. */
  readonly call_uuid?: string;
};

/** Where simulstream's components log: one method per level (pass your own, or {@link createLogger}'s). */
export interface Logger {
  /** Detail: each line sent, each connection's bytes. */
  debug(msg: string): void;
  /** What happens: a client connected, a call started. */
  info(msg: string): void;
  /** Something went wrong for one client or call, which goes on. */
  warning(msg: string): void;
  /** Something failed for one client or call. */
  error(msg: string): void;
  /** The process cannot go on. */
  critical(msg: string): void;
  /** A logger whose lines also carry `context`. Optional: loggers without it print no fields. */
  child?(context: LogContext): Logger;
}

/** `log` with `context` attached where the logger supports fields (JSON), else `log` itself. */
export function withContext(log: Logger, context: LogContext): Logger {
  return log.child ? log.child(context) : log;
}

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `2024-11-16 15:12:34 | whisper_server | INFO | message`, to a stream, from `level` up. */
export function createLogger(out: NodeJS.WritableStream, level: LogLevel = 'DEBUG', name = 'whisper_server'): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at =
    (l: LogLevel) =>
    (msg: string): void => {
      if (LOG_LEVELS.indexOf(l) >= min) out.write(`${stamp(new Date())} | ${name} | ${l} | ${msg}\n`);
    };
  return { debug: at('DEBUG'), info: at('INFO'), warning: at('WARNING'), error: at('ERROR'), critical: at('CRITICAL') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warning() {}, error() {}, critical() {} };
