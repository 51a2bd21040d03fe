import { alignWords } from './align.js';
import type { EmittedWord } from './emitted-words.js';
import { percentile } from './lag.js';
import type { ManifestSegment } from './manifest.js';
import { normalizeFor } from './normalize.js';

/** How late a sentence's last word came out. */
export interface SentenceLag {
  /** The sentence's end in the audio (s). */
  readonly end: number;
  /** When the last emitted word attributed to it came out (s), or null: no word of it was emitted. */
  readonly emitted: number | null;
  /** `emitted − end` (s), or null. */
  readonly lag: number | null;
}

/**
 * Emission lag against the audio: for each sentence of a long recording, the emission time of the
 * last transcript word attributed to it minus the sentence's end (from the manifest).
 *
 * The transcript's words are attributed to sentences by the minimum-edit-distance alignment with
 * the reference words (as SimulEval's long-form latency re-segments a hypothesis with mwerSegmenter),
 * made causal: a word emitted before a sentence starts cannot transcribe it, so it is never paired
 * with that sentence's words. A hypothesis word aligned to a reference word (a hit or a
 * substitution) belongs to that word's sentence; an inserted word belongs to none. A sentence none
 * of whose words was emitted (all deleted) has no lag, and is counted as missed. The times are
 * those of the text, not of the attention: a model's cross-attention gives word times only as good
 * as its alignment heads. A negative lag is a sentence whose last emitted word came before its end
 * (its last words were lost).
 */
export function sentenceLags(segments: readonly ManifestSegment[], words: readonly EmittedWord[], language: string): SentenceLag[] {
  const norm = normalizeFor(language);
  const ref: string[] = [];
  const sentenceOf: number[] = [];
  segments.forEach((s, k) => {
    for (const w of norm(s.text).split(' ')) {
      if (w === '') continue;
      ref.push(w);
      sentenceOf.push(k);
    }
  });
  const last: (number | null)[] = segments.map(() => null);
  const causal = (i: number, j: number): boolean => words[j]!.at >= segments[sentenceOf[i]!]!.start;
  for (const p of alignWords(ref, words.map((w) => w.word), causal)) {
    if (p.ref < 0 || p.hyp < 0) continue;
    const k = sentenceOf[p.ref]!;
    last[k] = Math.max(last[k] ?? Number.NEGATIVE_INFINITY, words[p.hyp]!.at);
  }
  return segments.map((s, k) => ({ end: s.end, emitted: last[k]!, lag: last[k] === null ? null : last[k]! - s.end }));
}

export interface SentenceLagSummary {
  readonly sentences: number;
  /** Sentences of which no word was emitted (left out of the figures). */
  readonly missed: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
}

export function summarizeSentenceLags(lags: readonly SentenceLag[]): SentenceLagSummary {
  const v = lags.map((l) => l.lag).filter((x): x is number => x !== null);
  return {
    sentences: lags.length,
    missed: lags.length - v.length,
    mean: v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN,
    p50: percentile(v, 50),
    p90: percentile(v, 90),
  };
}

/**
 * Two runs' sentence lags over the sentences both emitted a word of (the same files, in the same
 * order): a paired comparison, since a run that drops a sentence would otherwise be scored on others.
 */
export function pairedSentenceLags(
  a: readonly (readonly SentenceLag[])[],
  b: readonly (readonly SentenceLag[])[],
): { readonly sentences: number; readonly a: SentenceLagSummary; readonly b: SentenceLagSummary } | undefined {
  const pa: SentenceLag[] = [];
  const pb: SentenceLag[] = [];
  a.forEach((file, i) =>
    file.forEach((x, k) => {
      const y = b[i]?.[k];
      if (x.lag !== null && y && y.lag !== null) {
        pa.push(x);
        pb.push(y);
      }
    }),
  );
  return pa.length ? { sentences: pa.length, a: summarizeSentenceLags(pa), b: summarizeSentenceLags(pb) } : undefined;
}
