// The switches' clients, written from ../shared/notes/telephony-streaming.md (not from our server):
// mod_audio_stream (metadata text frame, 20 ms L16 binary frames, closes at hang-up), mod_audio_fork
// (subprotocol audio.drachtio.org, frames of any size, a zero-length frame to flush), jambonz (Bearer
// token, start / audio / stop, the server closes), and Asterisk's AudioSocket (kind, big-endian
// length, payload).
import net from 'node:net';
import { WebSocket } from 'ws';

/** One WebSocket call as the switch makes it; what the server sent back is collected. */
export interface SwitchCall {
  readonly ws: WebSocket;
  /** Text frames the server sent, parsed. */
  readonly messages: Record<string, unknown>[];
  /** Resolves once open. */
  readonly opened: Promise<void>;
  /** Resolves with the close code and reason (1006 when the socket just went away). */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Sends binary frames, resolving once each was written to the socket. */
  sendFrames(frames: readonly Buffer[]): Promise<void>;
  /** Resolves once `n` messages came. */
  messagesAtLeast(n: number): Promise<void>;
}

export interface SwitchCallOptions {
  readonly protocols?: string[];
  readonly headers?: Record<string, string>;
}

export function switchCall(url: string, opts: SwitchCallOptions = {}): SwitchCall {
  const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {} });
  const messages: Record<string, unknown>[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    messages.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
    for (const w of [...waiters]) if (messages.length >= w.n) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  const errors: Error[] = [];
  ws.on('error', (err) => errors.push(err));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    // an answer instead of the upgrade: the handshake is abandoned (the socket closes, 'close' follows)
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
  opened.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    ws,
    messages,
    opened,
    closed,
    sendFrames: (frames) =>
      Promise.all(frames.map((f) => new Promise<void>((resolve, reject) => ws.send(f, { binary: true }, (err) => (err ? reject(err) : resolve()))))).then(() => undefined),
    messagesAtLeast: (n) => (messages.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
  };
}

/** Cuts s16le audio into the frames a switch sends: `bytes` each (the last one shorter), or a cycle of sizes. */
export function frames(pcm: Buffer, bytes: number | readonly number[]): Buffer[] {
  const sizes = typeof bytes === 'number' ? [bytes] : bytes;
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < pcm.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    out.push(pcm.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Two mono s16le channels → interleaved stereo (L, R), the shorter padded with silence. */
export function interleave(left: Buffer, right: Buffer): Buffer {
  const n = Math.max(left.length, right.length) >> 1;
  const out = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    out.writeInt16LE(2 * i < left.length ? left.readInt16LE(2 * i) : 0, 4 * i);
    out.writeInt16LE(2 * i < right.length ? right.readInt16LE(2 * i) : 0, 4 * i + 2);
  }
  return out;
}

/** `buf` padded with silence to `bytes`. */
export function padTo(buf: Buffer, bytes: number): Buffer {
  return buf.length >= bytes ? buf : Buffer.concat([buf, Buffer.alloc(bytes - buf.length)]);
}

/** One AudioSocket message: kind, payload length (big-endian, 16 bits), payload. */
export function audioSocketMessage(kind: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(3);
  head[0] = kind;
  head.writeUInt16BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A UUID's 16 raw bytes, as AudioSocket's 0x01 message carries it. */
export function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/** Asterisk's side of an AudioSocket call: the UUID, then audio in 20 ms messages of `kind`, then a hang-up (unless told not to). */
export function audioSocketCall(port: number, uuid: string, pcm: Buffer, opts: { kind?: number; rate?: number; hangup?: boolean; extra?: Buffer[] } = {}): Promise<void> {
  const kind = opts.kind ?? 0x10;
  const frame = ((opts.rate ?? 8000) / 50) * 2;
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      const parts = [audioSocketMessage(0x01, uuidBytes(uuid))];
      for (let i = 0; i < pcm.length; i += frame) parts.push(audioSocketMessage(kind, pcm.subarray(i, i + frame)));
      parts.push(...(opts.extra ?? []));
      if (opts.hangup !== false) parts.push(audioSocketMessage(0x00));
      s.end(Buffer.concat(parts));
    });
    s.on('data', () => {});
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}
