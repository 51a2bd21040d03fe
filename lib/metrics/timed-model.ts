import type { LoadedModel } from '../model/load-model.js';
import type { WhisperModel } from '../model/whisper-model.js';

/** Told after each ONNX Runtime run: which graph, and how long it took (seconds). */
export type ModelTimer = (stage: 'encoder' | 'decoder', seconds: number) => void;

/**
 * The same loaded model, with every `encode` and `decode` timed. The sessions are shared (the
 * wrapper delegates to the original through its prototype); nothing is allocated per run beyond
 * the promise the run makes anyway.
 */
export function timedModel(lm: LoadedModel, onRun: ModelTimer): LoadedModel {
  const inner = lm.model;
  const timed = Object.create(inner) as WhisperModel;
  const time = async <T>(stage: 'encoder' | 'decoder', run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      onRun(stage, (performance.now() - t0) / 1000);
    }
  };
  const encode: WhisperModel['encode'] = (mel, batch, withFeatures) => time('encoder', () => inner.encode(mel, batch, withFeatures));
  const decode: WhisperModel['decode'] = (input) => time('decoder', () => inner.decode(input));
  Object.defineProperties(timed, { encode: { value: encode }, decode: { value: decode } });
  return { ...lm, model: timed };
}
