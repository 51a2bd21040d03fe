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

/**
 * A SimulStreaming-protocol TCP server (ours or the Python one), or several (`a:43007,b:43007`, or
 * a list): each connection goes to the server that last accepted one, else to the next that does,
 * so a call whose server died moves on to another (or to the same one once it is back).
 */
export function tcpRecognizer(addresses: string | readonly string[]): Recognizer {
  const list = (typeof addresses === 'string' ? addresses.split(',') : [...addresses]).map((a) => a.trim()).filter(Boolean);
  if (list.length === 0) throw new SimulstreamError('ERR_INVALID_OPTION', '--server: expected host:port[,host:port…]');
  const targets = list.map((address) => {
    const m = /^(.*):(\d+)$/.exec(address);
    if (!m) throw new SimulstreamError('ERR_INVALID_OPTION', `--server: expected host:port, got "${address}"`);
    return { address, host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
  });
  let current = 0;
  const connect = (t: (typeof targets)[number]): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: t.host, port: t.port, allowHalfOpen: true });
      s.once('connect', () => {
        s.off('error', reject);
        s.setNoDelay(true);
        resolve(s);
      });
      s.once('error', (err) => reject(new SimulstreamError('ERR_RECOGNIZER', `cannot reach the recognizer at ${t.address}: ${err.message}`, { cause: err })));
    });
  return {
    name: list.join(','),
    async open() {
      const errors: string[] = [];
      for (let i = 0; i < targets.length; i++) {
        const k = (current + i) % targets.length;
        try {
          const s = await connect(targets[k]!);
          current = k;
          return s;
        } catch (err) {
          if (targets.length === 1) throw err;
          errors.push((err as Error).message);
        }
      }
      throw new SimulstreamError('ERR_RECOGNIZER', `no recognizer reachable: ${errors.join('; ')}`);
    },
  };
}

/** An in-process recognizer over a loaded model (`--embedded`): one process does everything. */
export function embeddedRecognizer(options: TranscriberOptions): Recognizer {
  return { name: 'embedded', open: async () => transcriber({ ...options, objectMode: false }) };
}
