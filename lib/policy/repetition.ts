/**
 * Detects a decoding loop: the end of `tokens` made of `k` back-to-back copies of one n-gram, with
 * k ≥ 3 and the repeated span at least `minSpan` tokens (so "non, non, non" is speech, twelve
 * copies of " non" are a loop). Returns the index where the second copy starts (keeping one
 * copy), or -1.
 */
export function repetitionStart(tokens: readonly number[], minSpan = 12, maxN = 40): number {
  const len = tokens.length;
  for (let n = 1; n <= maxN && n * 3 <= len; n++) {
    let k = 1;
    while ((k + 1) * n <= len && sameNgram(tokens, len - n, len - (k + 1) * n, n)) k++;
    if (k >= 3 && k * n >= minSpan) return len - (k - 1) * n;
  }
  return -1;
}

function sameNgram(t: readonly number[], a: number, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (t[a + i] !== t[b + i]) return false;
  return true;
}
