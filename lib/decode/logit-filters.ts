import type { Tokenizer } from '../text/tokenizer.js';

/** Sets the given token ids to -Infinity in a logits row. */
export function suppress(logits: Float32Array, ids: Iterable<number>): void {
  for (const id of ids) if (id < logits.length) logits[id] = Number.NEGATIVE_INFINITY;
}

/**
 * OpenAI's `suppress_tokens="-1"` set: non-speech symbols, task and start tokens, `<|nospeech|>`.
 * (OpenAI does not suppress language tokens, `<|notimestamps|>` or timestamps here.)
 */
export function openaiSuppressTokens(tok: Tokenizer): number[] {
  const s = tok.special;
  const set = new Set<number>([...tok.nonSpeechTokens(), s.transcribe, s.translate, s.sot, s.sotPrev, s.sotLm, s.noSpeech]);
  return [...set].sort((a, b) => a - b);
}

/** OpenAI's SuppressBlank: at the first sampled position, no blank (" ") and no `<|endoftext|>`. */
export function blankTokens(tok: Tokenizer): number[] {
  return [...tok.encode(' '), tok.special.eot];
}

/**
 * The tokens SimulStreaming's AlignAtt never decodes: task, start and previous-text tokens,
 * `<|notimestamps|>`, `<|nospeech|>` and (multilingual models) every language token; with
 * `timestamps` false also every timestamp token (our difference). Sorted.
 */
export function alignAttSuppressTokens(tok: Tokenizer, nVocab: number, timestamps: boolean): number[] {
  const s = tok.special;
  const always = new Set<number>([s.transcribe, s.translate, s.sot, s.sotPrev, s.sotLm, s.noTimestamps, s.noSpeech]);
  if (tok.multilingual) for (const t of tok.languageTokens) always.add(t);
  if (!timestamps) for (let t = s.timestampBegin; t < nVocab; t++) always.add(t);
  return [...always].sort((a, b) => a - b);
}

/** log-softmax of a row, in float64. */
export function logSoftmax(row: Float32Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i]! - lse;
  return out;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
