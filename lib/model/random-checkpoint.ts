import type { Checkpoint, TensorInfo } from './checkpoint.js';
import { OFFICIAL_DIMS, type WhisperDims, expectedTensorShapes } from './dims.js';
import { InternalError, InvalidOptionError } from '../errors.js';

/**
 * A Whisper checkpoint of any shape with seeded random weights, generated tensor by tensor
 * on demand: for tests and benchmarks of the real model shapes without their downloads.
 */
export function randomCheckpoint(dimsOrName: WhisperDims | string, seed = 1234): Checkpoint {
  const dims = typeof dimsOrName === 'string' ? OFFICIAL_DIMS[dimsOrName] : dimsOrName;
  if (!dims) throw new InvalidOptionError('model', `unknown model shape ${String(dimsOrName)} (known: ${Object.keys(OFFICIAL_DIMS).join(', ')})`);
  const shapes = expectedTensorShapes(dims);
  const tensors = new Map<string, TensorInfo>();
  for (const [name, shape] of shapes) tensors.set(name, { shape, type: 'f32' });
  const key = Object.values(dims).join('x');
  return {
    file: `random:${typeof dimsOrName === 'string' ? dimsOrName : key}:${seed}`,
    format: 'pt',
    dims,
    tensors,
    contentKey: `random-${key}-${seed}`,
    read(name: string): Float32Array {
      const shape = shapes.get(name);
      if (!shape) throw new InternalError(`the random checkpoint has no tensor ${name}`);
      const n = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      if (name.endsWith('ln.weight') || name.endsWith('ln_post.weight')) return out.fill(1);
      const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : shape[0]!;
      const scale = name.endsWith('.bias') ? 0.02 : Math.min(1, Math.sqrt(3 / fanIn));
      let s = (seed ^ (hashName(name) * 2654435761)) >>> 0 || 1;
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        out[i] = ((s / 4294967296) * 2 - 1) * scale;
      }
      return out;
    },
    close(): void {},
  };
}

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
