/**
 * OpenAI's token decoders as step functions (`whisper/decoding.py`: `GreedyDecoder` at temperature
 * 0 and `BeamSearchDecoder` with patience 1), shared by offline decoding and the streaming policy.
 * A step takes the rows decoded so far and one log-probability row per row, and returns the next
 * rows, which row each continues (to reorder the KV cache), and whether decoding is complete.
 */

/** The result of one decoding step. */
export interface DecoderStep {
  /** The sampled tokens of every row so far (rows ordered best first for beam search). */
  readonly rows: number[][];
  /** For each new row, the index of the row it continues. */
  readonly sources: number[];
  /** OpenAI's `completed`: every row ended (greedy) or enough sequences finished (beam). */
  readonly completed: boolean;
}

export interface TokenDecoder {
  /** Rows decoded at once (1 for greedy, the beam size for beam search). */
  readonly width: number;
  /** One step: `logprobs[r]` is row `r`'s log-softmax (float64, suppressed tokens at -Infinity). */
  update(rows: readonly number[][], logprobs: readonly Float64Array[]): DecoderStep;
  /** The best sequence (without `<|endoftext|>`) and its summed log-probability once decoding stops. */
  finalize(rows: readonly number[][]): { tokens: number[]; sumLogprob: number };
}

/** Indices of the k largest finite values, largest first (ties: lowest index first). */
export function topK(values: Float64Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === Number.NEGATIVE_INFINITY) continue;
    if (best.length < k || v > values[best[best.length - 1]!]!) {
      let p = best.length < k ? best.length : k - 1;
      if (best.length < k) best.push(i);
      while (p > 0 && values[best[p - 1]!]! < v) {
        best[p] = best[p - 1]!;
        p--;
      }
      best[p] = i;
    }
  }
  return best;
}

/** `GreedyDecoder(temperature=0)`: the argmax; complete when it is `<|endoftext|>`. */
export class GreedyDecoder implements TokenDecoder {
  readonly width = 1;
  private sum = 0;

  constructor(private readonly eot: number) {}

  update(rows: readonly number[][], logprobs: readonly Float64Array[]): DecoderStep {
    const row = rows[0]!;
    const last = row[row.length - 1];
    const next = last === this.eot ? this.eot : topK(logprobs[0]!, 1)[0]!;
    if (last !== this.eot) this.sum = Math.fround(this.sum + Math.fround(logprobs[0]![next]!));
    return { rows: [[...row, next]], sources: [0], completed: next === this.eot };
  }

  finalize(rows: readonly number[][]): { tokens: number[]; sumLogprob: number } {
    const row = rows[0]!;
    const eotAt = row.indexOf(this.eot);
    return { tokens: eotAt >= 0 ? row.slice(0, eotAt) : [...row], sumLogprob: this.sum };
  }
}

/**
 * `BeamSearchDecoder` (patience 1): each row's `width + 1` best continuations are scored by their
 * summed float32 log-probability; the best `width` that do not end are kept, the ones that end
 * before those are set aside as finished; decoding is complete once `width` sequences finished.
 * `finalize` is OpenAI's `finalize` + `MaximumLikelihoodRanker` (length-normalised, no penalty).
 */
export class BeamSearchDecoder implements TokenDecoder {
  private sums: number[];
  private readonly finished = new Map<string, { seq: number[]; score: number }>();

  constructor(
    readonly width: number,
    private readonly eot: number,
  ) {
    this.sums = new Array<number>(width).fill(0);
  }

  update(rows: readonly number[][], logprobs: readonly Float64Array[]): DecoderStep {
    const scores = new Map<string, { seq: number[]; score: number; source: number }>();
    rows.forEach((prefix, r) => {
      const lp = logprobs[r]!;
      for (const t of topK(lp, this.width + 1)) {
        const seq = [...prefix, t];
        // a sequence reached from several rows keeps its first place and its last source (a dict)
        scores.set(seq.join(','), { seq, score: Math.fround(this.sums[r]! + Math.fround(lp[t]!)), source: r });
      }
    });
    const next: number[][] = [];
    const sums: number[] = [];
    const sources: number[] = [];
    const newlyFinished: [string, { seq: number[]; score: number }][] = [];
    for (const [key, c] of [...scores].sort((a, b) => b[1].score - a[1].score)) {
      if (c.seq[c.seq.length - 1] === this.eot) newlyFinished.push([key, c]);
      else {
        next.push(c.seq);
        sums.push(c.score);
        sources.push(c.source);
        if (next.length === this.width) break;
      }
    }
    for (const [key, c] of newlyFinished) {
      if (this.finished.size >= this.width) break;
      this.finished.set(key, { seq: c.seq, score: c.score });
    }
    this.sums = sums;
    return { rows: next, sources, completed: this.finished.size >= this.width };
  }

  finalize(rows: readonly number[][]): { tokens: number[]; sumLogprob: number } {
    if (this.finished.size < this.width) {
      const order = this.sums.map((s, j) => [s, j] as const).sort((a, b) => b[0] - a[0]);
      for (const [s, j] of order) {
        const seq = [...rows[j]!, this.eot];
        this.finished.set(seq.join(','), { seq, score: s });
        if (this.finished.size >= this.width) break;
      }
    }
    let best: { tokens: number[]; score: number; norm: number } | undefined;
    for (const { seq, score } of this.finished.values()) {
      const eotAt = seq.indexOf(this.eot);
      const tokens = eotAt >= 0 ? seq.slice(0, eotAt) : seq;
      const norm = score / tokens.length;
      if (!best || norm > best.norm) best = { tokens, score, norm };
    }
    return { tokens: best!.tokens, sumLogprob: best!.score };
  }
}

/** A greedy decoder for width 1, else a beam search of that width. */
export function tokenDecoder(width: number, eot: number): TokenDecoder {
  return width > 1 ? new BeamSearchDecoder(width, eot) : new GreedyDecoder(eot);
}
