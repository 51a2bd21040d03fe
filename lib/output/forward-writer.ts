import { Writable } from 'node:stream';

/**
 * A writable that forwards to `out` with its backpressure, and finishes without ending it: the
 * last stage of a pipeline that writes to the process's stdout (which must stay open) or to a
 * caller's stream.
 */
export function forwardTo(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, callback) {
      let called = false;
      const once = (err?: Error | null): void => {
        if (called) return;
        called = true;
        callback(err);
      };
      if (out.write(chunk, (err) => err && once(err))) once();
      else out.once('drain', () => once());
    },
  });
}
