import type { LoadedModel } from '../../lib/model/load-model.js';
import type { WhisperModel } from '../../lib/model/whisper-model.js';

/**
 * A test double around a real model: the same weights and results, except that its `failOn`-th
 * call to `encode` or `decode` (counting both) throws `error()`. Give it to one connection only
 * (`ServerOptions.modelFor`) to make one stream's model fail while the others use the real one.
 */
export function faultyModel(lm: LoadedModel, failOn: number, error: () => Error): LoadedModel & { readonly calls: () => number } {
  let calls = 0;
  const model = new Proxy(lm.model, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (prop !== 'encode' && prop !== 'decode') return f.bind(target);
      return (...args: unknown[]) => {
        if (++calls === failOn) throw error();
        return f.apply(target, args);
      };
    },
  }) as WhisperModel;
  return { ...lm, model, calls: () => calls, createMel: () => lm.createMel(), release: async () => {} };
}
