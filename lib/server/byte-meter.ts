import { Transform, type TransformCallback } from 'node:stream';

/** Bytes pass through unchanged; `count` is told each chunk's size as the pipeline reads it. */
export class ByteMeter extends Transform {
  constructor(private readonly count: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count(chunk.length);
    done(null, chunk);
  }
}
