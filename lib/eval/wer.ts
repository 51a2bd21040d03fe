import { normalizeFor } from './normalize.js';

export interface WerCounts {
  /** Substitutions + deletions + insertions. */
  readonly errors: number;
  /** Words in the reference. */
  readonly words: number;
}

/** Word-level Levenshtein distance. */
export function wordErrors(reference: readonly string[], hypothesis: readonly string[]): number {
  let prev = Array.from({ length: hypothesis.length + 1 }, (_, j) => j);
  for (let i = 1; i <= reference.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      const sub = prev[j - 1]! + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, prev[j]! + 1, cur[j - 1]! + 1));
    }
    prev = cur;
  }
  return prev[hypothesis.length]!;
}

/** Errors and reference words after the language's normaliser. */
export function werCounts(reference: string, hypothesis: string, language: string): WerCounts {
  const norm = normalizeFor(language);
  const split = (t: string): string[] => (t === '' ? [] : t.split(' '));
  const ref = split(norm(reference));
  return { errors: wordErrors(ref, split(norm(hypothesis))), words: ref.length };
}

/** WER in percent over several utterances. */
export function werPercent(counts: readonly WerCounts[]): number {
  const words = counts.reduce((n, c) => n + c.words, 0);
  const errors = counts.reduce((n, c) => n + c.errors, 0);
  return words === 0 ? 0 : (100 * errors) / words;
}
