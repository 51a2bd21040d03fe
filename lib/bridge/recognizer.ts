import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SimulstreamError } from '../errors.js';
import { transcriber, type TranscriberOptions } from '../stream/transcriber.js';

/**
 * Where a call's audio goes: a Duplex that takes raw s16le 16 kHz mono bytes and gives back
 * `start_ms end_ms text` lines; ending its writable side asks for the final lines.
 */
export interface Recognizer {
  /** Human-readable, for logs (`127.0.0.1:43007`, `embedded`). */
  readonly name: string;
  open(): Promise<Duplex>;
}

/** A SimulStreaming-protocol TCP server (ours or the Python one). */
export function tcpRecognizer(address: string): Recognizer {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new SimulstreamError('ERR_INVALID_OPTION', `--server: expected host:port, got "${address}"`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[2]);
  return {
    name: address,
    open: () =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host, port, allowHalfOpen: true });
        s.once('connect', () => {
          s.off('error', reject);
          s.setNoDelay(true);
          resolve(s);
        });
        s.once('error', (err) => reject(new SimulstreamError('ERR_RECOGNIZER', `cannot reach the recognizer at ${address}: ${err.message}`, { cause: err })));
      }),
  };
}

/** An in-process recognizer over a loaded model (`--embedded`): one process does everything. */
export function embeddedRecognizer(options: TranscriberOptions): Recognizer {
  return { name: 'embedded', open: async () => transcriber({ ...options, objectMode: false }) };
}
