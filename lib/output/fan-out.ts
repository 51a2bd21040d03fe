import { Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One output: a sink (segments → text) and where its text goes. */
export interface OutputTarget {
  readonly sink: Transform;
  readonly dest: NodeJS.WritableStream;
}

/**
 * One objectMode writable that feeds every target's `pipeline(sink, dest)` (`--output-format
 * all`): each segment is written to every sink, the next one waits until every sink that asked
 * for it has drained, and it finishes once every output is flushed. The first output that fails
 * fails it.
 */
export function fanOut(targets: readonly OutputTarget[]): Writable {
  const done = targets.map((t) => pipeline(t.sink, t.dest));
  let failed: Error | undefined;
  const out = new Writable({
    objectMode: true,
    write(segment: unknown, _enc, callback) {
      const waits = targets.filter((t) => !t.sink.write(segment)).map((t) => new Promise<void>((r) => t.sink.once('drain', r)));
      if (waits.length === 0) return callback(failed);
      void Promise.race([Promise.all(waits), Promise.all(done).then(() => undefined)]).then(() => callback(failed));
    },
    final(callback) {
      for (const t of targets) t.sink.end();
      Promise.all(done).then(
        () => callback(),
        (err: Error) => callback(err),
      );
    },
    destroy(err, callback) {
      for (const t of targets) t.sink.destroy(err ?? undefined);
      callback(err);
    },
  });
  for (const d of done) {
    d.catch((err: Error) => {
      failed ??= err;
      out.destroy(err);
    });
  }
  return out;
}
