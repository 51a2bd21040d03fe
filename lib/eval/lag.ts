import type { Segment } from '../stream/utf8-carry.js';

export interface LagSummary {
  readonly words: number;
  /** Mean lag (s) from a word's end in the audio to its emission. */
  readonly meanLag: number;
  /** 90th percentile of the same. */
  readonly p90Lag: number;
}

/** Lag of every emitted word: its emission (audio clock) minus its end in the audio. */
export function wordLags(segments: readonly Segment[]): number[] {
  const lags: number[] = [];
  for (const s of segments) for (const w of s.words) lags.push(Math.max(0, s.emittedMs / 1000 - w.end));
  return lags;
}

/** The nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarizeLags(lags: readonly number[]): LagSummary {
  const mean = lags.length ? lags.reduce((a, b) => a + b, 0) / lags.length : Number.NaN;
  return { words: lags.length, meanLag: mean, p90Lag: percentile(lags, 90) };
}
