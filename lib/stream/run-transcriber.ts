import type { Segment } from './utf8-carry.js';
import { transcriber, type TranscriberOptions } from './transcriber.js';


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
