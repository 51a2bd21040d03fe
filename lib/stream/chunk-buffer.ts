import { Transform, type TransformCallback } from 'node:stream';
import { SAMPLE_RATE } from '../audio/mel.js';
import { DEFAULTS } from '../defaults.js';
import { InvalidOptionError } from '../errors.js';

/** A piece of audio for the policy; `last` marks the end of the stream. */
export interface AudioChunk {
  /** 16 kHz mono float samples. */
  readonly samples: Float32Array;
  /** The end of the stream: the final pass runs on it. */
  readonly last: boolean;
  /** The end of an utterance (voice activity control): final pass, then a fresh context. */
  readonly utteranceEnd?: boolean;
  /** Samples of silence before this chunk that are not decoded (voice activity control). */
  readonly gap?: number;
  /**
   * A simulated emission time (seconds of the stream's clock) for the update this chunk produces:
   * set by SimulStreaming's computation-unaware file simulation, where it is the chunk's end.
   */
  readonly at?: number;
}

/**
 * Where chunks end.
 * - `exact`: every `minChunkSize` seconds exactly, whatever the sizes written, so the output never
 *   depends on how the input was split; at the end, the remainder (possibly empty) is the final chunk.
 * - `simulstreaming`: SimulStreaming's `--comp_unaware` file loop: chunk k ends at sample
 *   `int(e_k * 16000)` with `e_k = e_(k-1) + minChunkSize` added in floating point (so lengths vary
 *   by a sample); the remainder is an ordinary chunk, followed by an empty final chunk; every
 *   chunk carries its end as `at`.
 */
export type Chunking = 'exact' | 'simulstreaming';

/** Samples → chunks of `minChunkSize` seconds (see {@link Chunking}). */
export class ChunkBuffer extends Transform {
  /** Samples per chunk (`exact` chunking). */
  readonly chunkSamples: number;
  private pending: Float32Array;
  private filled = 0;
  /** simulstreaming: the current chunk's end, in seconds as SimulStreaming computes it. */
  private chunkEnd: number;
  /** simulstreaming: the sample where the previous chunk ended. */
  private boundary = 0;
  private sent = 0;
  private received = 0;

  constructor(
    /** Seconds per chunk. */
    readonly minChunkSize: number = DEFAULTS.minChunkSize,
    /** Where chunks end. */
    readonly chunking: Chunking = 'exact',
  ) {
    super({ objectMode: true });
    if (!(minChunkSize > 0)) throw new InvalidOptionError('--min-chunk-size', 'must be a positive number of seconds');
    this.chunkSamples = Math.max(1, Math.round(minChunkSize * SAMPLE_RATE));
    this.chunkEnd = minChunkSize;
    this.pending = new Float32Array(this.size());
  }

  /** Samples of the chunk being filled. */
  private size(): number {
    if (this.chunking === 'exact') return this.chunkSamples;
    return Math.max(1, Math.trunc(this.chunkEnd * SAMPLE_RATE) - this.boundary);
  }

  /** @internal */
  override _transform(samples: Float32Array, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    this.received += samples.length;
    while (i < samples.length) {
      const take = Math.min(samples.length - i, this.pending.length - this.filled);
      this.pending.set(samples.subarray(i, i + take), this.filled);
      this.filled += take;
      i += take;
      if (this.filled === this.pending.length) {
        const at = this.chunking === 'simulstreaming' ? { at: this.chunkEnd } : {};
        this.push({ samples: this.pending, last: false, ...at } satisfies AudioChunk);
        this.sent++;
        this.boundary += this.pending.length;
        this.chunkEnd += this.minChunkSize;
        this.pending = new Float32Array(this.size());
        this.filled = 0;
      }
    }
    done();
  }

  /** @internal */
  override _flush(done: TransformCallback): void {
    const rest = this.pending.slice(0, this.filled);
    if (this.chunking === 'exact') {
      this.push({ samples: rest, last: true } satisfies AudioChunk);
      return done();
    }
    const duration = this.received / SAMPLE_RATE;
    // the loop's last chunk ends at the file's end (or, for a file shorter than one chunk, at min_chunk_size)
    if (rest.length > 0) this.push({ samples: rest, last: false, at: this.sent === 0 ? this.minChunkSize : duration } satisfies AudioChunk);
    this.push({ samples: new Float32Array(0), last: true, at: duration } satisfies AudioChunk);
    done();
  }
}
