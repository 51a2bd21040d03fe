import { FFT } from './fft.js';
import { melFilters } from './mel-filters.js';

import { SAMPLE_RATE } from './pcm.js';
import { InternalError } from '../errors.js';

export { SAMPLE_RATE };
export const N_FFT = 400;
export const HOP_LENGTH = 160;
/** Samples in Whisper's 30-second window. */
export const N_SAMPLES = 30 * SAMPLE_RATE;
/** Mel frames in a window. */
export const N_FRAMES = N_SAMPLES / HOP_LENGTH;
/** A fitted encoder window grows by 2 s (200 mel frames, 100 encoder frames). */
export const FITTED_STEP_FRAMES = 200;

/**
 * Mel frames of an encoder window fitted to `samples` of audio (whisper.cpp's `audio_ctx`): the
 * audio rounded up to a multiple of 2 s, at least 2 s and at most Whisper's 30 s. Every frame of
 * real audio (`samples / 320` encoder frames) fits in it.
 */
export function fittedWindowFrames(samples: number): number {
  const step = FITTED_STEP_FRAMES * HOP_LENGTH;
  return Math.min(N_FRAMES, Math.max(1, Math.ceil(samples / step)) * FITTED_STEP_FRAMES);
}
const N_BINS = N_FFT / 2 + 1;

interface SparseRow {
  readonly start: number;
  readonly weights: Float64Array;
}

/**
 * Whisper's log-mel front end, exactly: the audio padded with 30 s of zeros, a centred STFT
 * (reflect padding, periodic Hann window, n_fft 400, hop 160), power spectrum without the last
 * frame, mel filters, log10 clamped at 1e-10, floored at max − 8 (the max over the whole padded
 * spectrogram), then (x + 4) / 4, cut to the first 3000 frames.
 *
 * Frames that see only padding are not transformed: their power is exactly zero.
 */
export class LogMel {
  private readonly fft = new FFT(N_FFT);
  private readonly window: Float64Array;
  private readonly rows: SparseRow[];
  private readonly re = new Float64Array(N_FFT);
  private readonly zeros = new Float64Array(N_FFT);
  private readonly oRe = new Float64Array(N_FFT);
  private readonly oIm = new Float64Array(N_FFT);
  private readonly power = new Float64Array(N_BINS);

  constructor(
    readonly nMels: number,
    filters: Float32Array = melFilters(nMels),
  ) {
    this.window = new Float64Array(N_FFT);
    for (let i = 0; i < N_FFT; i++) this.window[i] = Math.fround(0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N_FFT));
    this.rows = [];
    for (let m = 0; m < nMels; m++) {
      const row = filters.subarray(m * N_BINS, (m + 1) * N_BINS);
      let s = 0;
      while (s < N_BINS && row[s] === 0) s++;
      let e = N_BINS;
      while (e > s && row[e - 1] === 0) e--;
      this.rows.push({ start: s, weights: Float64Array.from(row.subarray(s, e)) });
    }
  }

  /**
   * Log-mel `[n_mels, 3000]` (row-major) of up to 30 s of 16 kHz samples, as Whisper's
   * `pad_or_trim(log_mel_spectrogram(audio, padding=N_SAMPLES), 3000)`; with `window` < 3000, its
   * first `window` frames (a fitted encoder window, {@link fittedWindowFrames}).
   */
  compute(audio: Float32Array, window = N_FRAMES): Float32Array {
    const n = audio.length;
    const frames = new Float64Array(this.nMels * N_FRAMES);
    const outFrames = Math.min(liveFrames(n), N_FRAMES);
    for (let t = 0; t < outFrames; t++) this.logFrame(audio, n, t, frames);
    frames.fill(FLOOR_LOG, outFrames * this.nMels);
    return this.normalize(frames, window);
  }

  /**
   * The log10 mel powers (before flooring) of frame `t` of `audio[0..n)` followed by 30 s of
   * zeros, written frame-major to `dst[t * n_mels + m]`. Only frames below `liveFrames(n)` see
   * audio; the others are `FLOOR_LOG`.
   */
  logFrame(audio: Float32Array, n: number, t: number, dst: Float64Array): void {
    const half = N_FFT / 2;
    const base = t * HOP_LENGTH - half;
    for (let i = 0; i < N_FFT; i++) {
      let j = base + i;
      if (j < 0) j = -j; // centre padding reflects around sample 0
      this.re[i] = (j < n ? audio[j]! : 0) * this.window[i]!;
    }
    this.fft.transform(this.re, this.zeros, this.oRe, this.oIm);
    for (let k = 0; k < N_BINS; k++) this.power[k] = this.oRe[k]! * this.oRe[k]! + this.oIm[k]! * this.oIm[k]!;
    const o = t * this.nMels;
    for (let m = 0; m < this.nMels; m++) {
      const { start, weights } = this.rows[m]!;
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k]! * this.power[start + k]!;
      dst[o + m] = Math.log10(Math.max(s, 1e-10));
    }
  }

  /**
   * Whisper's normalisation of frame-major log10 powers `[3000][n_mels]`: floor at the maximum
   * minus 8 (the 30 s of padding always contribute `FLOOR_LOG`), then (x + 4) / 4, transposed to
   * `[n_mels, window]`: the first `window` frames (all 3000 by default). The maximum is taken over
   * all 3000, so a shorter window holds exactly the first columns of the full one.
   */
  normalize(frames: Float64Array, window = N_FRAMES): Float32Array {
    if (!(Number.isInteger(window) && window >= 2 && window <= N_FRAMES && window % 2 === 0)) {
      throw new InternalError(`a mel window has an even number of frames in 2..${N_FRAMES}, got ${window}`);
    }
    let max = FLOOR_LOG;
    for (let i = 0; i < frames.length; i++) if (frames[i]! > max) max = frames[i]!;
    const floor = max - 8;
    const out = new Float32Array(this.nMels * window);
    for (let t = 0; t < window; t++) {
      const o = t * this.nMels;
      for (let m = 0; m < this.nMels; m++) out[m * window + t] = (Math.max(frames[o + m]!, floor) + 4) / 4;
    }
    return out;
  }
}

/** log10 of the power floor (1e-10): the value of every frame that sees only padding. */
export const FLOOR_LOG = -10;

/**
 * How many frames of `n` samples (plus the 30 s of padding) see real audio: frame t covers samples
 * [160 t − 200, 160 t + 200), reflected at 0.
 */
export function liveFrames(n: number): number {
  if (n <= 0) return 0;
  return Math.floor((n - 1 + N_FFT / 2) / HOP_LENGTH) + 1;
}
