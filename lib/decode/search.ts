import type { EncodedAudio, WhisperModel } from '../model/whisper-model.js';
import { argmax, logSoftmax, suppress } from './logit-filters.js';

export interface SearchOptions {
  /** Most tokens to sample (OpenAI's sample_len; default n_text_ctx / 2). */
  readonly sampleLen?: number;
  /** Suppressed at every step. */
  readonly suppressTokens: readonly number[];
  /** Suppressed at the first sampled step only (OpenAI's SuppressBlank). */
  readonly suppressAtBegin: readonly number[];
  readonly eot: number;
}

export interface SearchResult {
  /** Sampled tokens, without `<|endoftext|>`. */
  readonly tokens: number[];
  readonly sumLogprob: number;
  readonly avgLogprob: number;
}

function row(logits: Float32Array, b: number, nVocab: number): Float32Array {
  return logits.slice(b * nVocab, (b + 1) * nVocab);
}

/** Greedy decoding as OpenAI's `GreedyDecoder` (temperature 0) with the KV cache. */
export async function greedySearch(
  model: WhisperModel,
  audio: EncodedAudio,
  initial: readonly number[],
  opts: SearchOptions,
): Promise<SearchResult> {
  const V = model.dims.n_vocab;
  const sampleLen = opts.sampleLen ?? model.dims.n_text_ctx / 2;
  let cache = model.emptyCache(1);
  let feed: number[] = [...initial];
  const tokens: number[] = [];
  let sum = 0;
  for (let i = 0; i < sampleLen; i++) {
    const out = await model.decode({ tokens: [feed], cache, audio });
    cache = out.cache;
    const logits = row(out.logits, 0, V);
    if (i === 0) suppress(logits, opts.suppressAtBegin);
    suppress(logits, opts.suppressTokens);
    const next = argmax(logits);
    sum += Math.fround(logSoftmax(logits)[next]!);
    if (next === opts.eot) break;
    tokens.push(next);
    if (initial.length + tokens.length > model.dims.n_text_ctx - 1) break;
    feed = [next];
  }
  return { tokens, sumLogprob: sum, avgLogprob: sum / (tokens.length + 1) };
}

/**
 * Beam search as OpenAI's `BeamSearchDecoder` (patience 1) followed by its
 * `MaximumLikelihoodRanker` (length-normalised sum of log-probabilities).
 */
export async function beamSearch(
  model: WhisperModel,
  audio: EncodedAudio,
  initial: readonly number[],
  beamSize: number,
  opts: SearchOptions,
): Promise<SearchResult> {
  const V = model.dims.n_vocab;
  const sampleLen = opts.sampleLen ?? model.dims.n_text_ctx / 2;
  const first = await model.decode({ tokens: [[...initial]], cache: model.emptyCache(1), audio });
  let cache = model.selectCache(first.cache, new Array<number>(beamSize).fill(0));
  let logits: Float32Array = new Float32Array(beamSize * V);
  for (let b = 0; b < beamSize; b++) logits.set(first.logits, b * V);
  let seqs: number[][] = Array.from({ length: beamSize }, () => []);
  let sums = new Array<number>(beamSize).fill(0);
  const finished = new Map<string, { seq: number[]; score: number }>();
  for (let i = 0; i < sampleLen; i++) {
    const scores = new Map<string, { seq: number[]; score: number; source: number }>();
    for (let b = 0; b < beamSize; b++) {
      const l = row(logits, b, V);
      if (i === 0) suppress(l, opts.suppressAtBegin);
      suppress(l, opts.suppressTokens);
      const lp = logSoftmax(l);
      for (const t of topK(lp, beamSize + 1)) {
        const seq = [...seqs[b]!, t];
        scores.set(seq.join(','), { seq, score: Math.fround(sums[b]! + Math.fround(lp[t]!)), source: b });
      }
    }
    const nextSeqs: number[][] = [];
    const nextSums: number[] = [];
    const sources: number[] = [];
    const newlyFinished: { key: string; seq: number[]; score: number }[] = [];
    for (const [key, c] of [...scores].sort((a, b) => b[1].score - a[1].score)) {
      if (c.seq[c.seq.length - 1] === opts.eot) {
        newlyFinished.push({ key, seq: c.seq, score: c.score });
      } else {
        nextSeqs.push(c.seq);
        nextSums.push(c.score);
        sources.push(c.source);
        if (nextSeqs.length === beamSize) break;
      }
    }
    for (const f of newlyFinished) {
      if (finished.size >= beamSize) break;
      finished.set(f.key, { seq: f.seq, score: f.score });
    }
    seqs = nextSeqs;
    sums = nextSums;
    if (finished.size >= beamSize || initial.length + seqs[0]!.length > model.dims.n_text_ctx) break;
    if (i === sampleLen - 1) break;
    const out = await model.decode({
      tokens: seqs.map((s) => [s[s.length - 1]!]),
      cache: model.selectCache(cache, sources),
      audio,
    });
    cache = out.cache;
    logits = out.logits;
  }
  if (finished.size < beamSize) {
    const order = sums.map((s, j) => [s, j] as const).sort((a, b) => b[0] - a[0]);
    for (const [s, j] of order) {
      const seq = [...seqs[j]!, opts.eot];
      finished.set(seq.join(','), { seq, score: s });
      if (finished.size >= beamSize) break;
    }
  }
  let best: { tokens: number[]; score: number; norm: number } | undefined;
  for (const { seq, score } of finished.values()) {
    const eotAt = seq.indexOf(opts.eot);
    const tokens = eotAt >= 0 ? seq.slice(0, eotAt) : seq;
    const norm = score / tokens.length;
    if (!best || norm > best.norm) best = { tokens, score, norm };
  }
  return { tokens: best!.tokens, sumLogprob: best!.score, avgLogprob: best!.score / (best!.tokens.length + 1) };
}

function topK(lp: Float64Array, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < lp.length; i++) {
    const v = lp[i]!;
    if (v === Number.NEGATIVE_INFINITY) continue;
    if (idx.length < k) {
      idx.push(i);
      idx.sort((a, b) => lp[b]! - lp[a]!);
    } else if (v > lp[idx[k - 1]!]!) {
      idx[k - 1] = i;
      idx.sort((a, b) => lp[b]! - lp[a]!);
    }
  }
  return idx;
}
