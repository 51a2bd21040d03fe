import { Transform, type TransformCallback } from 'node:stream';
import { SAMPLE_RATE } from '../audio/mel.js';
import { InvalidOptionError } from '../errors.js';

/** A piece of audio for the policy; `last` marks the end of the stream. */
export interface AudioChunk {
  readonly samples: Float32Array;
  readonly last: boolean;
  /** The end of an utterance (voice activity control): final pass, then a fresh context. */
  readonly utteranceEnd?: boolean;
  /** Samples of silence before this chunk that are not decoded (voice activity control). */
  readonly gap?: number;
}

/**
 * Samples → chunks of exactly `minChunkSize` seconds, whatever the sizes written, so the output
 * never depends on how the input was split. At the end, the remainder (possibly empty) is sent
 * with `last: true`.
 */
export class ChunkBuffer extends Transform {
  readonly chunkSamples: number;
  private pending: Float32Array;
  private filled = 0;

  constructor(minChunkSize = 1.2) {
    super({ objectMode: true });
    if (!(minChunkSize > 0)) throw new InvalidOptionError('--min-chunk-size', 'must be a positive number of seconds');
    this.chunkSamples = Math.max(1, Math.round(minChunkSize * SAMPLE_RATE));
    this.pending = new Float32Array(this.chunkSamples);
  }

  override _transform(samples: Float32Array, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    while (i < samples.length) {
      const take = Math.min(samples.length - i, this.chunkSamples - this.filled);
      this.pending.set(samples.subarray(i, i + take), this.filled);
      this.filled += take;
      i += take;
      if (this.filled === this.chunkSamples) {
        this.push({ samples: this.pending, last: false } satisfies AudioChunk);
        this.pending = new Float32Array(this.chunkSamples);
        this.filled = 0;
      }
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.push({ samples: this.pending.slice(0, this.filled), last: true } satisfies AudioChunk);
    done();
  }
}
