import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through stage that shows each chunk to `see` on its way (a byte count, a report): the
 * chunks go on untouched, and a throw in `see` fails the pipeline.
 */
export function tap<T>(see: (chunk: T) => void, objectMode = false): Transform {
  return new Transform({
    objectMode,
    transform(chunk: T, _enc: BufferEncoding, done: TransformCallback) {
      try {
        see(chunk);
      } catch (err) {
        done(err as Error);
        return;
      }
      done(null, chunk);
    },
  });
}
