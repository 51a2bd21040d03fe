import { type ErrorCode, SimulstreamError, StartupError } from '../errors.js';

/** Exit codes of every command. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2 });

/** Error codes that mean the command line was wrong (exit 2), not that the work failed. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['ERR_INVALID_OPTION', 'ERR_UNKNOWN_LANGUAGE', 'ERR_WARMUP_FILE']);

/**
 * Whether an error is a usage error: a bad option or value, an unknown language, or anything
 * that stopped a command from starting with the options and model it was given.
 */
export function isUsageError(err: SimulstreamError): boolean {
  return USAGE_CODES.has(err.code) || err instanceof StartupError;
}
