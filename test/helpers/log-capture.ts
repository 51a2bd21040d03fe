import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '../../lib/server/logger.js';

/** A DEBUG logger (named `name`, default the server's) whose lines the test can read. */
export function captureLog(name?: string): { logger: Logger; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { logger: createLogger(out, 'DEBUG', name), text: () => text };
}
