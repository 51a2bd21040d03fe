import type { LoadedModel } from '../../lib/model/load-model.js';
import type { WhisperModel } from '../../lib/model/whisper-model.js';

/**
 * `lm` with every call of its model's `encode` and `decode` made through `around` (which runs it
 * with `call()`); its other methods as they are. `release` leaves the real model alone.
 */
function aroundModelCalls(lm: LoadedModel, around: (call: () => unknown) => unknown): LoadedModel {
  const model = new Proxy(lm.model, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (prop !== 'encode' && prop !== 'decode') return f.bind(target);
      return (...args: unknown[]) => around(() => f.apply(target, args));
    },
  }) as WhisperModel;
  return { ...lm, model, createMel: () => lm.createMel(), release: async () => {} };
}

/**
 * A test double around a real model: the same weights and results, except that its `failOn`-th
 * call to `encode` or `decode` (counting both) throws `error()`. Give it to one connection only
 * (`ServerOptions.modelFor`) to make one stream's model fail while the others use the real one.
 */
export function faultyModel(lm: LoadedModel, failOn: number, error: () => Error): LoadedModel & { readonly calls: () => number } {
  let calls = 0;
  const wrapped = aroundModelCalls(lm, (call) => {
    if (++calls === failOn) throw error();
    return call();
  });
  return { ...wrapped, calls: () => calls };
}

/**
 * A real model whose `encode` and `decode` wait until `open()` is called: a stream on it stalls
 * in its first iteration (a server that cannot keep up), then goes on exactly as on `lm`; or,
 * after `fail(err)`, fails with `err`.
 */
export function gatedModel(lm: LoadedModel): LoadedModel & { readonly open: () => void; readonly fail: (err: Error) => void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const gate = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  // the calls that await the gate see a rejection; this only keeps it from counting as unhandled
  gate.catch(() => undefined);
  const wrapped = aroundModelCalls(lm, async (call) => {
    await gate;
    return call();
  });
  return { ...wrapped, open, fail };
}
