import type { DecodeStepOutput, EncodedAudio, WhisperModel } from '../model/whisper-model.js';
import { logSoftmax, suppress } from './logit-filters.js';
import { tokenDecoder, type DecoderStep, type TokenDecoder } from './token-decoder.js';

export interface SearchOptions {
  /** Suppressed at every step. */
  readonly suppressTokens: readonly number[];
  /** Suppressed at the first step only (OpenAI's SuppressBlank). */
  readonly suppressAtBegin: readonly number[];
  readonly eot: number;
}

/** What one step of a search saw, for a policy that watches it. */
export interface SearchStep {
  /** Step number, from 0 (the step that fed the whole prefix). */
  readonly index: number;
  /** The decoder's output for the fed rows. */
  readonly out: DecodeStepOutput;
  /** Tokens fed per row at this step (the prefix at step 0, then 1). */
  readonly fed: number;
  /** Row of `out` that row `r` (of the rows before the step) was fed in (step 0 feeds one row for all). */
  outRow(r: number): number;
  /** The decoder's step: the new rows, their sources, completion. */
  readonly step: DecoderStep;
}

export interface SearchLoopOptions extends SearchOptions {
  /** Stop after this many sampled tokens. */
  readonly maxSampled: number;
  /** Stop once prefix + sampled tokens reach this length. */
  readonly maxTotal: number;
  /** Watches each step; returning `true` stops the search after it. */
  readonly onStep?: (s: SearchStep) => boolean | Promise<boolean>;
}

export interface SearchLoopResult {
  /** The rows after the last step (sampled tokens only), best first. */
  readonly rows: number[][];
  /** Why the loop ended: the decoder completed, the observer stopped it, or the length limits. */
  readonly end: 'completed' | 'observer' | 'length';
}

/**
 * The one decoding loop of offline and streaming decoding: the prefix once (its rows shared), then
 * one token per row per step with the KV cache, OpenAI's logit filters and token decoder
 * (greedy or beam), and an optional observer (the AlignAtt policy) that may stop it.
 */
export async function searchLoop(
  model: WhisperModel,
  audio: EncodedAudio,
  prefix: readonly number[],
  decoder: TokenDecoder,
  opts: SearchLoopOptions,
): Promise<SearchLoopResult> {
  const V = model.dims.n_vocab;
  const width = decoder.width;
  let rows: number[][] = Array.from({ length: width }, () => []);
  let cache = model.emptyCache(1);
  let feed: number[][] = [[...prefix]];
  for (let i = 0; ; i++) {
    const out = await model.decode({ tokens: feed, cache, audio });
    const outRow = (r: number): number => (i === 0 ? 0 : r);
    const logprobs: Float64Array[] = [];
    for (let r = 0; r < width; r++) {
      const o = outRow(r);
      const logits = out.logits.slice(o * V, (o + 1) * V);
      if (i === 0) suppress(logits, opts.suppressAtBegin);
      suppress(logits, opts.suppressTokens);
      logprobs.push(logSoftmax(logits));
    }
    const step = decoder.update(rows, logprobs);
    const stop = opts.onStep ? await opts.onStep({ index: i, out, fed: feed[0]!.length, outRow, step }) : false;
    rows = step.rows;
    if (step.completed) return { rows, end: 'completed' };
    if (stop) return { rows, end: 'observer' };
    if (i + 1 >= opts.maxSampled || prefix.length + rows[0]!.length >= opts.maxTotal) return { rows, end: 'length' };
    const order = i === 0 ? step.sources.map(() => 0) : step.sources;
    const identity = order.length === (i === 0 ? 1 : width) && order.every((r, k) => r === k);
    cache = identity ? out.cache : model.selectCache(out.cache, order);
    feed = rows.map((r) => [r[r.length - 1]!]);
  }
}

export interface SearchResult {
  /** Sampled tokens, without `<|endoftext|>`. */
  readonly tokens: number[];
  readonly sumLogprob: number;
  readonly avgLogprob: number;
}

/**
 * OpenAI's `decode` of one window without timestamps: greedy (`beams` 1) or beam search with
 * patience 1 and the length-normalised ranking, at most `sampleLen` tokens (default n_text_ctx / 2).
 */
export async function decodeWindow(
  model: WhisperModel,
  audio: EncodedAudio,
  initial: readonly number[],
  beams: number,
  opts: SearchOptions & { readonly sampleLen?: number },
): Promise<SearchResult> {
  const decoder = tokenDecoder(beams, opts.eot);
  const { rows } = await searchLoop(model, audio, initial, decoder, {
    ...opts,
    maxSampled: opts.sampleLen ?? model.dims.n_text_ctx / 2,
    maxTotal: model.dims.n_text_ctx + 1,
  });
  const best = decoder.finalize(rows);
  return { ...best, avgLogprob: best.sumLogprob / (best.tokens.length + 1) };
}
