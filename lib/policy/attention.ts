import { mostAttended } from './policy-step.js';

/** Encoder frames in a 30 s window (20 ms each). */
export const AUDIO_FRAMES = 1500;
/** Width of the median filter over frames (Whisper's `medfilt_width`). */
export const MEDIAN_WIDTH = 7;

/**
 * The cross-attention of the alignment heads over every token of one hypothesis, and the
 * most-attended frame of its newest token, computed as SimulStreaming does: each head's weights are
 * z-normalised per frame over all tokens so far (mean and population standard deviation), the
 * newest token's row is median-filtered over frames (width 7, reflect padding), averaged over
 * heads, cut to the frames holding real audio, and its argmax taken (first maximum on ties).
 *
 * Only running sums are kept per (head, frame), so a step costs O(heads × frames) whatever the
 * number of tokens.
 */
export class AttentionTracker {
  private readonly sum: Float64Array;
  private readonly sumSq: Float64Array;
  private count = 0;
  private last: Float32Array;
  private readonly z: Float64Array;
  private readonly filtered: Float64Array;
  private readonly avg: Float64Array;
  private readonly win = new Float64Array(MEDIAN_WIDTH);

  /** `frames`: encoder frames of the window the attention is over (1500 for 30 s). */
  constructor(readonly heads: number, readonly frames = AUDIO_FRAMES) {
    this.sum = new Float64Array(heads * frames);
    this.sumSq = new Float64Array(heads * frames);
    this.last = new Float32Array(heads * frames);
    this.z = new Float64Array(frames);
    this.filtered = new Float64Array(frames);
    this.avg = new Float64Array(frames);
  }

  /** Tokens seen so far. */
  get tokens(): number {
    return this.count;
  }

  /**
   * Adds the attention rows of `T` tokens for one hypothesis, laid out `[heads, T, frames]`
   * (the decoder's `alignment_attn` for one batch row).
   */
  add(attn: Float32Array, T: number, offset = 0): void {
    const F = this.frames;
    for (let h = 0; h < this.heads; h++) {
      for (let t = 0; t < T; t++) {
        const src = offset + (h * T + t) * F;
        const o = h * F;
        for (let f = 0; f < F; f++) {
          const a = attn[src + f]!;
          this.sum[o + f]! += a;
          this.sumSq[o + f]! += a * a;
        }
        if (t === T - 1) this.last.set(attn.subarray(src, src + F), o);
      }
    }
    this.count += T;
  }

  /**
   * The newest token's row as the policy reads it: z-normalised per frame over all tokens so far,
   * median-filtered over frames, averaged over heads, cut to the first `content` frames (at least
   * one). The array is reused by the next call.
   */
  newestRow(content: number): Float64Array {
    const F = this.frames;
    const n = this.count;
    this.avg.fill(0);
    for (let h = 0; h < this.heads; h++) {
      const o = h * F;
      for (let f = 0; f < F; f++) {
        const mean = this.sum[o + f]! / n;
        const variance = Math.max(0, this.sumSq[o + f]! / n - mean * mean);
        const std = Math.sqrt(variance);
        this.z[f] = std > 0 ? (this.last[o + f]! - mean) / std : 0;
      }
      medianFilter(this.z, this.filtered, this.win);
      for (let f = 0; f < F; f++) this.avg[f]! += this.filtered[f]!;
    }
    return this.avg.subarray(0, Math.max(1, Math.min(content, F)));
  }

  /** The most-attended frame of the newest token among the first `content` frames (first maximum on ties). */
  mostAttendedFrame(content: number): number {
    return mostAttended(this.newestRow(content));
  }
}

/**
 * Whisper's `median_filter` over the last axis with width 7: reflect padding (the edge sample is
 * not repeated), the median of each window. Inputs shorter than the half width are copied.
 */
export function medianFilter(x: Float64Array, out: Float64Array, win = new Float64Array(MEDIAN_WIDTH)): void {
  const n = x.length;
  const w = win.length;
  const pad = w >> 1;
  if (n <= pad) {
    out.set(x);
    return;
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < w; k++) {
      let j = i - pad + k;
      if (j < 0) j = -j;
      else if (j >= n) j = 2 * (n - 1) - j;
      // insertion sort of the window as it fills
      const v = x[j]!;
      let p = k;
      while (p > 0 && win[p - 1]! > v) {
        win[p] = win[p - 1]!;
        p--;
      }
      win[p] = v;
    }
    out[i] = win[pad]!;
  }
}
