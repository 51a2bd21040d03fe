import { Transform, type TransformCallback } from 'node:stream';
import type { AlignAttSession, AlignAttUpdate } from '../decode/align-att.js';
import type { AudioChunk } from './chunk-buffer.js';

/**
 * Audio chunks → the policy's updates (one per chunk, possibly without tokens). The chunk marked
 * `last` (or `utteranceEnd`) runs the final pass; a stream that ends without one runs it on nothing.
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
    if (chunk.gap) this.session.skip(chunk.gap);
    if (chunk.last) this.finished = true;
    if (chunk.last && chunk.samples.length === 0 && this.session.bufferSeconds === 0) {
      done(); // nothing left to decode (e.g. the stream ended in silence under voice activity control)
      return;
    }
    const final = chunk.last || chunk.utteranceEnd === true;
    const run = final ? this.session.finish(chunk.samples) : this.session.process(chunk.samples);
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
