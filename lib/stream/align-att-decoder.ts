import { Transform, type TransformCallback } from 'node:stream';
import type { AlignAttSession, AlignAttUpdate } from '../decode/align-att.js';
import type { AudioChunk } from './chunk-buffer.js';

/**
 * Audio chunks → the policy's updates (one per chunk, possibly without tokens). The chunk marked
 * `last` runs the final pass; a stream that ends without one runs it on nothing.
 */
export class AlignAttDecoder extends Transform {
  private finished = false;

  constructor(readonly session: AlignAttSession) {
    super({ objectMode: true, highWaterMark: 1 });
  }

  override _transform(chunk: AudioChunk, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.finished) {
      done();
      return;
    }
    const run = chunk.last ? this.session.finish(chunk.samples) : this.session.process(chunk.samples);
    if (chunk.last) this.finished = true;
    run.then((u: AlignAttUpdate) => done(null, u), done);
  }

  override _flush(done: TransformCallback): void {
    if (this.finished) {
      done();
      return;
    }
    this.finished = true;
    this.session.finish().then((u) => done(null, u), done);
  }
}
