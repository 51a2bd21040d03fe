import { InvalidOptionError } from '../errors.js';
import { argmax, logSoftmax, suppress } from '../decode/logit-filters.js';
import type { EncodedAudio, WhisperModel } from '../model/whisper-model.js';

/** A model and the audio it encoded (its own encoder's output for the same window). */
export interface ForcedSide {
  readonly model: WhisperModel;
  readonly audio: EncodedAudio;
}

/** How two decoders agree on the next token, position by position, over the same token sequence. */
export interface NextTokenAgreement {
  /** Positions compared. */
  readonly positions: number;
  /** Positions where both put their maximum on the same token. */
  readonly agreements: number;
  /** Sum over the positions of KL(reference ‖ test) of the next-token distributions (nats). */
  readonly klSum: number;
}

/**
 * Teacher-forced next-token agreement: both decoders are fed the same `tokens` in one pass (the
 * reference's own greedy output, say), and at each of the last `predicted` positions the argmax
 * and the distribution of the next token are compared, with `suppressTokens` removed from both
 * (the tokens decoding never picks). Unlike comparing two free-running decodings, one early
 * disagreement does not make the rest of the sequence incomparable.
 */
export async function nextTokenAgreement(
  ref: ForcedSide,
  test: ForcedSide,
  tokens: readonly number[],
  predicted: number,
  suppressTokens: readonly number[] = [],
): Promise<NextTokenAgreement> {
  if (!(predicted >= 1 && predicted <= tokens.length)) throw new InvalidOptionError('predicted', `must be in 1..${tokens.length}, got ${predicted}`);
  const run = (s: ForcedSide): Promise<Float32Array> =>
    s.model.decode({ tokens: [tokens], cache: s.model.emptyCache(1), audio: s.audio, logitTokens: predicted }).then((o) => o.logits);
  const [a, b] = await Promise.all([run(ref), run(test)]);
  const V = ref.model.dims.n_vocab;
  let agreements = 0;
  let klSum = 0;
  for (let t = 0; t < predicted; t++) {
    const ra = a.slice(t * V, (t + 1) * V);
    const rb = b.slice(t * V, (t + 1) * V);
    suppress(ra, suppressTokens);
    suppress(rb, suppressTokens);
    if (argmax(ra) === argmax(rb)) agreements++;
    klSum += klDivergence(logSoftmax(ra), logSoftmax(rb));
  }
  return { positions: predicted, agreements, klSum };
}

/** KL(p ‖ q) of two log-probability rows (terms where p is 0 contribute nothing). */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i]!;
    if (lp === Number.NEGATIVE_INFINITY) continue;
    kl += Math.exp(lp) * (lp - logQ[i]!);
  }
  return kl;
}
