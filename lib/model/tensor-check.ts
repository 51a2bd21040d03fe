import { CheckpointError } from '../errors.js';
import type { TensorInfo } from './checkpoint.js';

/** Checks every expected tensor is present with its expected shape (got vs expected in the message). */
export function checkTensorShapes(
  file: string,
  tensors: ReadonlyMap<string, TensorInfo>,
  expected: ReadonlyMap<string, number[]>,
): void {
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) {
      throw new CheckpointError('ERR_CHECKPOINT_MISSING_TENSOR', file, `not a complete Whisper checkpoint: tensor ${name} is missing`);
    }
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw new CheckpointError(
        'ERR_CHECKPOINT_TENSOR_SHAPE',
        file,
        `tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
      );
    }
  }
}
