import net from 'node:net';

export interface NcOptions {
  /** Bytes per write, or a cycle of sizes (default: everything at once). */
  readonly piece?: number | readonly number[];
  /** Half-close after writing (default true). */
  readonly halfClose?: boolean;
  /** Called once connected, with the socket (e.g. to learn its local port). */
  readonly onConnect?: (sock: net.Socket) => void;
}

/** Like `nc`: connect, write everything (in pieces), half-close, read until the server closes. */
export function ncClient(port: number, data: Buffer, opts: NcOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    sock.on('data', (b) => chunks.push(b));
    sock.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
      sock.end();
    });
    sock.on('error', reject);
    sock.on('connect', () => {
      opts.onConnect?.(sock);
      const sizes = typeof opts.piece === 'number' ? [opts.piece] : (opts.piece ?? [data.length]);
      for (let i = 0, k = 0; i < data.length; k++) {
        const n = Math.max(1, sizes[k % sizes.length]!);
        sock.write(data.subarray(i, i + n));
        i += n;
      }
      if (opts.halfClose !== false) sock.end();
    });
  });
}

/** The peer string the server logs for a client socket. */
export function peerOf(sock: net.Socket): string {
  return `('127.0.0.1', ${sock.localPort})`;
}

/** A small seeded PRNG (mulberry32): the same "random" garbage on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A free TCP port on 127.0.0.1 (bound, then released), for a child process that must be told its port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
