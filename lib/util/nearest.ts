/** Levenshtein edit distance (insertions, deletions, substitutions), case-sensitive. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

export interface NearestOptions {
  /**
   * The farthest a candidate may be and still be suggested. Default: a third of the input's
   * length, at least 1 (a typo or two, not a different word).
   */
  readonly maxDistance?: number;
}

/**
 * The candidate closest to `input` by edit distance, compared case-insensitively, or `undefined`
 * when none is within `maxDistance` (then suggesting one would only confuse). Ties go to the
 * earlier candidate.
 */
export function nearest(input: string, candidates: Iterable<string>, opts: NearestOptions = {}): string | undefined {
  const needle = input.toLowerCase();
  const max = opts.maxDistance ?? Math.max(1, Math.floor(needle.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(needle, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= max ? best : undefined;
}
