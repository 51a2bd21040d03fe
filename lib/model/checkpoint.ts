import type { WhisperDims } from './dims.js';

/** How one tensor is stored in a checkpoint file. */
export type StoredType = 'f32' | 'f16' | 'bf16' | 'f64' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0';

export interface TensorInfo {
  /** Shape in PyTorch order (OpenAI's state dict). */
  readonly shape: readonly number[];
  readonly type: StoredType;
}

/**
 * A Whisper checkpoint opened for reading. Tensors are read lazily, one at a time,
 * so a 3 GB model never sits in memory twice.
 */
export interface Checkpoint {
  readonly file: string;
  readonly format: 'ggml' | 'pt';
  readonly dims: WhisperDims;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Mel filter bank `[n_mels, 201]` when the file carries one (ggml). */
  readonly melFilters?: Float32Array;
  /** Token byte strings in rank order when the file carries a vocabulary (ggml). */
  readonly vocab?: readonly Uint8Array[];
  /** A stable key for the contents when there is no file to hash (generated models). */
  readonly contentKey?: string;
  /** Reads one tensor as float32 (dequantised / widened as needed). */
  read(name: string): Float32Array;
  close(): void;
}
