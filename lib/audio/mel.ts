import { FFT } from './fft.js';
import { melFilters } from './mel-filters.js';

export const SAMPLE_RATE = 16000;
export const N_FFT = 400;
export const HOP_LENGTH = 160;
/** Samples in Whisper's 30-second window. */
export const N_SAMPLES = 30 * SAMPLE_RATE;
/** Mel frames in a window. */
export const N_FRAMES = N_SAMPLES / HOP_LENGTH;
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
   * `pad_or_trim(log_mel_spectrogram(audio, padding=N_SAMPLES), 3000)`.
   */
  compute(audio: Float32Array): Float32Array {
    const n = audio.length;
    const total = n + N_SAMPLES;
    const nFrames = Math.floor(total / HOP_LENGTH); // torch.stft gives one more; Whisper drops it
    const outFrames = Math.min(nFrames, N_FRAMES);
    const half = N_FFT / 2;
    const logs = new Float64Array(this.nMels * outFrames);
    const floorLog = -10; // log10(1e-10)
    let max = Number.NEGATIVE_INFINITY;
    // Frames whose window reaches real audio (reflect padding at the start reaches samples 1..200).
    const lastLive = Math.min(nFrames - 1, Math.floor((n - 1 + half) / HOP_LENGTH));
    const sample = (i: number): number => {
      // centre padding reflects around sample 0 and around the last padded sample
      if (i < 0) i = -i;
      else if (i >= total) i = 2 * (total - 1) - i;
      return i < n ? audio[i]! : 0;
    };
    for (let t = 0; t < nFrames; t++) {
      const live = n > 0 && t <= lastLive;
      if (!live) {
        if (floorLog > max) max = floorLog;
        if (t < outFrames) for (let m = 0; m < this.nMels; m++) logs[m * outFrames + t] = floorLog;
        continue;
      }
      const base = t * HOP_LENGTH - half;
      for (let i = 0; i < N_FFT; i++) this.re[i] = sample(base + i) * this.window[i]!;
      this.fft.transform(this.re, this.zeros, this.oRe, this.oIm);
      for (let k = 0; k < N_BINS; k++) this.power[k] = this.oRe[k]! * this.oRe[k]! + this.oIm[k]! * this.oIm[k]!;
      for (let m = 0; m < this.nMels; m++) {
        const { start, weights } = this.rows[m]!;
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k]! * this.power[start + k]!;
        const v = Math.log10(Math.max(s, 1e-10));
        if (v > max) max = v;
        if (t < outFrames) logs[m * outFrames + t] = v;
      }
    }
    const floor = max - 8;
    const out = new Float32Array(this.nMels * N_FRAMES);
    for (let m = 0; m < this.nMels; m++) {
      for (let t = 0; t < outFrames; t++) {
        out[m * N_FRAMES + t] = (Math.max(logs[m * outFrames + t]!, floor) + 4) / 4;
      }
      // pad_or_trim pads missing frames with zeros (never happens for ≤ 30 s of audio)
    }
    return out;
  }
}
