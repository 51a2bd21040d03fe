import type { Segment } from './utf8-carry.js';
import { transcriber, type TranscriberOptions } from './transcriber.js';

/** Float samples → s16le bytes, as a 16-bit recording would carry them. */
export function floatToS16le(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i]! * 32768);
    out.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : v, 2 * i);
  }
  return out;
}

export interface StreamRunOptions extends Omit<TranscriberOptions, 'objectMode'> {
  /** Bytes per write (default: everything at once). The output does not depend on it. */
  readonly writeSize?: number;
  /** Called with each segment as it is emitted. */
  readonly onSegment?: (s: Segment) => void;
}

/** Streams raw s16le bytes through a transcriber and collects its segments. */
export async function streamPcm(pcm: Uint8Array, opts: StreamRunOptions): Promise<Segment[]> {
  const tr = transcriber({ ...opts, objectMode: true });
  const segments: Segment[] = [];
  const done = new Promise<void>((resolve, reject) => {
    tr.on('data', (s: Segment) => {
      segments.push(s);
      opts.onSegment?.(s);
    });
    tr.on('end', resolve);
    tr.on('error', reject);
  });
  const size = opts.writeSize ?? pcm.length;
  for (let i = 0; i < pcm.length; i += size) {
    if (!tr.write(Buffer.from(pcm.buffer, pcm.byteOffset + i, Math.min(size, pcm.length - i)))) {
      await new Promise((r) => tr.once('drain', r));
    }
  }
  tr.end();
  await done;
  return segments;
}
