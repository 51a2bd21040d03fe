import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Segment } from './utf8-carry.js';
import { transcriber, type TranscriberOptions } from './transcriber.js';

export interface StreamRunOptions extends Omit<TranscriberOptions, 'objectMode'> {
  /** Bytes per write (default: everything at once). The output does not depend on it. */
  readonly writeSize?: number;
  /** Called with each segment as it is emitted; a throw fails the run. */
  readonly onSegment?: (s: Segment) => void;
}

/**
 * Streams raw s16le bytes through a transcriber and collects its segments: one
 * `pipeline(bytes, transcriber(), collector)`, so a transcriber that fails mid-stream rejects at
 * once (its source is destroyed, nothing waits for a `drain` that will not come).
 */
export async function streamPcm(pcm: Uint8Array, opts: StreamRunOptions): Promise<Segment[]> {
  const segments: Segment[] = [];
  await pipeline(
    Readable.from(pieces(pcm, opts.writeSize ?? pcm.length)),
    transcriber({ ...opts, objectMode: true }),
    new Writable({
      objectMode: true,
      write(s: Segment, _enc, done) {
        segments.push(s);
        try {
          opts.onSegment?.(s);
        } catch (err) {
          done(err as Error);
          return;
        }
        done();
      },
    }),
  );
  return segments;
}

/** The bytes in writes of `size` (views, no copy). */
function* pieces(pcm: Uint8Array, size: number): Generator<Buffer> {
  const step = Math.max(1, size);
  for (let i = 0; i < pcm.length; i += step) yield Buffer.from(pcm.buffer, pcm.byteOffset + i, Math.min(step, pcm.length - i));
}
