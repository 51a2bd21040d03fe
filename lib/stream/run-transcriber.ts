import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Segment } from './utf8-carry.js';
import { transcriber, type TranscriberOptions } from './transcriber.js';

/** Options of {@link streamPcm}: a transcriber's, how the bytes are written, and a segment hook. */
export interface StreamRunOptions extends Omit<TranscriberOptions, 'objectMode'> {
  /** Bytes per write (default: everything at once). The output does not depend on it. */
  readonly writeSize?: number;
  /** Called with each segment as it is emitted. */
  readonly onSegment?: (s: Segment) => void;
}

/**
 * `pipeline(bytes, transcriber(), segments)`: raw s16le bytes, written `writeSize` at a time,
 * through a transcriber; resolves with its segments, rejects with the first failure.
 */
export async function streamPcm(pcm: Uint8Array, opts: StreamRunOptions): Promise<Segment[]> {
  const { writeSize, onSegment, ...options } = opts;
  const size = Math.max(1, writeSize ?? pcm.length);
  const pieces = function* (): Generator<Buffer> {
    for (let i = 0; i < pcm.length; i += size) yield Buffer.from(pcm.buffer, pcm.byteOffset + i, Math.min(size, pcm.length - i));
  };
  const segments: Segment[] = [];
  await pipeline(
    Readable.from(pieces(), { objectMode: false }),
    transcriber({ ...options, objectMode: true }),
    new Writable({
      objectMode: true,
      write(s: Segment, _enc, done) {
        segments.push(s);
        try {
          onSegment?.(s);
        } catch (err) {
          return done(err as Error);
        }
        done();
      },
    }),
  );
  return segments;
}
