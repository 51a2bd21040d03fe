import { FLOOR_LOG, HOP_LENGTH, N_FRAMES, N_SAMPLES, liveFrames, type LogMel } from './mel.js';

/**
 * The log-mel of a growing (and front-trimmed) audio buffer of at most 30 s, as Whisper computes
 * it on the whole buffer each time, but transforming only the frames that changed: a frame is
 * final once its 400-sample window lies inside the audio received. When the front of the buffer
 * is dropped by a multiple of the hop (160 samples), the cached frames shift; otherwise they are
 * recomputed. The result is identical, bit for bit, to `LogMel.compute(buffer)`.
 */
export class StreamingLogMel {
  private audio = new Float32Array(N_SAMPLES);
  private n = 0;
  /** Frame-major log10 powers of the first `valid` frames, which no longer change. */
  private readonly frames: Float64Array;
  private valid = 0;

  constructor(private readonly mel: LogMel) {
    this.frames = new Float64Array(mel.nMels * N_FRAMES);
  }

  /** Samples in the buffer. */
  get length(): number {
    return this.n;
  }

  /** The buffer's audio (a view; valid until the next call). */
  samples(): Float32Array {
    return this.audio.subarray(0, this.n);
  }

  append(samples: Float32Array): void {
    if (this.n + samples.length > this.audio.length) {
      const bigger = new Float32Array(Math.max(this.audio.length * 2, this.n + samples.length));
      bigger.set(this.audio.subarray(0, this.n));
      this.audio = bigger;
    }
    this.audio.set(samples, this.n);
    this.n += samples.length;
  }

  /** Drops `count` samples from the front of the buffer. */
  dropFront(count: number): void {
    count = Math.min(count, this.n);
    this.audio.copyWithin(0, count, this.n);
    this.n -= count;
    const shift = count / HOP_LENGTH;
    const keep = this.valid - shift;
    if (Number.isInteger(shift) && keep > 2) {
      // cached frames shift with the audio; frames 0 and 1 reflect around the new first sample
      const m = this.mel.nMels;
      this.frames.copyWithin(0, shift * m, this.valid * m);
      for (let t = 0; t < 2; t++) this.mel.logFrame(this.audio, this.n, t, this.frames);
      this.valid = keep;
    } else this.valid = 0;
  }

  clear(): void {
    this.n = 0;
    this.valid = 0;
  }

  /**
   * The normalised log-mel `[n_mels, 3000]` of the buffer padded to 30 s; with `frames` < 3000,
   * its first `frames` columns (a fitted encoder window, see `fittedWindowFrames`).
   */
  window(frames = N_FRAMES): Float32Array {
    const n = Math.min(this.n, N_SAMPLES);
    const live = Math.min(liveFrames(n), N_FRAMES);
    // frames whose window ends inside the audio are final: 160 t + 200 ≤ n
    const stable = Math.min(live, Math.max(0, Math.floor((n - N_FFT_HALF) / HOP_LENGTH) + 1));
    const from = Math.min(this.valid, stable);
    for (let t = from; t < live; t++) this.mel.logFrame(this.audio, n, t, this.frames);
    this.valid = stable;
    const m = this.mel.nMels;
    this.frames.fill(FLOOR_LOG, live * m);
    return this.mel.normalize(this.frames, frames);
  }
}

const N_FFT_HALF = 200;
