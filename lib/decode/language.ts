import type { EncodedAudio, WhisperModel } from '../model/whisper-model.js';
import type { Tokenizer } from '../text/tokenizer.js';

export interface LanguageDetection {
  readonly language: string;
  /** Probability of every language, highest first. */
  readonly probabilities: readonly (readonly [string, number])[];
}

/**
 * OpenAI's `detect_language`: the logits after `<|startoftranscript|>`, restricted to the
 * language tokens, softmaxed.
 */
export async function detectLanguage(model: WhisperModel, audio: EncodedAudio, tok: Tokenizer): Promise<LanguageDetection> {
  if (!tok.multilingual) return { language: 'en', probabilities: [['en', 1]] };
  const out = await model.decode({ tokens: [[tok.special.sot]], cache: model.emptyCache(1), audio });
  const ids = tok.languageTokens;
  let max = Number.NEGATIVE_INFINITY;
  for (const id of ids) max = Math.max(max, out.logits[id]!);
  let sum = 0;
  const exps = ids.map((id) => {
    const e = Math.exp(out.logits[id]! - max);
    sum += e;
    return e;
  });
  const probabilities = ids
    .map((id, i) => [tok.languageOf(id)!, exps[i]! / sum] as const)
    .sort((a, b) => b[1] - a[1]);
  return { language: probabilities[0]![0], probabilities };
}
