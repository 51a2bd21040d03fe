/** One step of a word alignment: a reference word, a hypothesis word, or both (a hit or a substitution). */
export interface AlignedPair {
  /** Index in the reference, or -1 for an inserted hypothesis word. */
  readonly ref: number;
  /** Index in the hypothesis, or -1 for a deleted reference word. */
  readonly hyp: number;
}

/**
 * A minimum-edit-distance alignment of two word sequences (without `canPair`, its cost is the word
 * error count), in order. Ties prefer a hit or substitution, then a deletion, then an insertion.
 * `canPair(i, j)` false forbids pairing reference word i with hypothesis word j (they can only be
 * a deletion and an insertion).
 */
export function alignWords(
  reference: readonly string[],
  hypothesis: readonly string[],
  canPair: (ref: number, hyp: number) => boolean = () => true,
): AlignedPair[] {
  const pairCost = (i: number, j: number): number => (!canPair(i - 1, j - 1) ? Number.POSITIVE_INFINITY : reference[i - 1] === hypothesis[j - 1] ? 0 : 1);
  const n = reference.length;
  const m = hypothesis.length;
  const cost: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let j = 0; j <= m; j++) cost[0]![j] = j;
  for (let i = 1; i <= n; i++) {
    const row = cost[i]!;
    const prev = cost[i - 1]!;
    row[0] = i;
    for (let j = 1; j <= m; j++) {
      row[j] = Math.min(prev[j - 1]! + pairCost(i, j), prev[j]! + 1, row[j - 1]! + 1);
    }
  }
  const out: AlignedPair[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const c = cost[i]![j]!;
    if (i > 0 && j > 0 && c === cost[i - 1]![j - 1]! + pairCost(i, j)) {
      out.push({ ref: --i, hyp: --j });
    } else if (i > 0 && c === cost[i - 1]![j]! + 1) {
      out.push({ ref: --i, hyp: -1 });
    } else {
      out.push({ ref: -1, hyp: --j });
    }
  }
  return out.reverse();
}
