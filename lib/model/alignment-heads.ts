import path from 'node:path';
import { InvalidOptionError } from '../errors.js';
import { OFFICIAL_DIMS, type WhisperDims } from './dims.js';
import type { AlignmentHead } from './whisper-graphs.js';

type H = AlignmentHead;

/** OpenAI's published alignment heads (layer, head) per official model (model-sources.md). */
export const OFFICIAL_ALIGNMENT_HEADS: Readonly<Record<string, readonly H[]>> = Object.freeze({
  'tiny.en': [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]],
  tiny: [[2, 2], [3, 0], [3, 2], [3, 3], [3, 4], [3, 5]],
  'base.en': [[3, 3], [4, 7], [5, 1], [5, 5], [5, 7]],
  base: [[3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]],
  'small.en': [
    [6, 6], [7, 0], [7, 3], [7, 8], [8, 2], [8, 5], [8, 7], [9, 0], [9, 4], [9, 8], [9, 10], [10, 0], [10, 1], [10, 2],
    [10, 3], [10, 6], [10, 11], [11, 2], [11, 4],
  ],
  small: [[5, 3], [5, 9], [8, 0], [8, 4], [8, 7], [8, 8], [9, 0], [9, 7], [9, 9], [10, 5]],
  'medium.en': [
    [11, 4], [14, 1], [14, 12], [14, 14], [15, 4], [16, 0], [16, 4], [16, 9], [17, 12], [17, 14], [18, 7], [18, 10],
    [18, 15], [20, 0], [20, 3], [20, 9], [20, 14], [21, 12],
  ],
  medium: [[13, 15], [15, 4], [15, 15], [16, 1], [20, 0], [23, 4]],
  'large-v1': [[9, 19], [11, 2], [11, 4], [11, 17], [22, 7], [22, 11], [22, 17], [23, 2], [23, 15]],
  'large-v2': [
    [10, 12], [13, 17], [16, 11], [16, 12], [16, 13], [17, 15], [17, 16], [18, 4], [18, 11], [18, 19], [19, 11], [21, 2],
    [21, 3], [22, 3], [22, 9], [22, 12], [23, 5], [23, 7], [23, 13], [25, 5], [26, 1], [26, 12], [27, 15],
  ],
  'large-v3': [[7, 0], [10, 17], [12, 18], [13, 12], [16, 1], [17, 14], [19, 11], [21, 4], [24, 1], [25, 6]],
  'large-v3-turbo': [[2, 4], [2, 11], [3, 3], [3, 6], [3, 11], [3, 14]],
});

const ALIASES: Record<string, string> = { large: 'large-v3', turbo: 'large-v3-turbo' };

/**
 * Models that are not OpenAI's but whose shape is unique and whose heads were measured: the
 * demo model bundled in `test/fixtures/toy/` (toy-whisper v3, trained for this project; its
 * `alignment_heads.json`: the two best cross-attention heads of its last decoder layer).
 */
export const KNOWN_SHAPE_HEADS: readonly { readonly name: string; readonly dims: WhisperDims; readonly heads: readonly H[] }[] = Object.freeze([
  {
    name: 'toy-whisper-v3',
    dims: {
      n_mels: 80,
      n_audio_ctx: 1500,
      n_audio_state: 128,
      n_audio_head: 4,
      n_audio_layer: 4,
      n_vocab: 51865,
      n_text_ctx: 448,
      n_text_state: 128,
      n_text_head: 4,
      n_text_layer: 2,
    },
    heads: [[1, 2], [1, 3]],
  },
]);

/** Parses `'L,H;L,H'` (SimulStreaming's and our `--alignment_heads`). */
export function parseAlignmentHeads(spec: string, dims?: WhisperDims): H[] {
  const heads: H[] = [];
  for (const part of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)\s*,\s*(\d+)$/.exec(part);
    if (!m) throw new InvalidOptionError('--alignment_heads', `"${part}" is not "layer,head" (expected e.g. "2,4;3,1")`);
    heads.push([Number(m[1]), Number(m[2])]);
  }
  if (heads.length === 0) throw new InvalidOptionError('--alignment_heads', 'no heads given (expected e.g. "2,4;3,1")');
  if (dims) validateHeads(heads, dims);
  return sortHeads(heads);
}

export function validateHeads(heads: readonly H[], dims: WhisperDims): void {
  if (heads.length === 0) throw new InvalidOptionError('--alignment_heads', 'at least one head is needed');
  for (const [l, h] of heads) {
    if (l >= dims.n_text_layer || h >= dims.n_text_head) {
      throw new InvalidOptionError(
        '--alignment_heads',
        `head ${l},${h} does not exist: the model has ${dims.n_text_layer} decoder layers of ${dims.n_text_head} heads`,
      );
    }
  }
}

/** Heads in (layer, head) order, duplicates removed: the order of the decoder's attention output. */
export function sortHeads(heads: readonly H[]): H[] {
  const seen = new Set<string>();
  return [...heads]
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .filter(([l, h]) => !seen.has(`${l},${h}`) && seen.add(`${l},${h}`) !== undefined);
}

/**
 * The alignment heads of a checkpoint: the official ones when its file name or its shape
 * identifies an official model, the measured ones when its shape is one of
 * {@link KNOWN_SHAPE_HEADS} (the demo model), otherwise (fine-tuned or custom shapes) OpenAI's
 * default, every head of the second half of the decoder layers.
 */
export function defaultAlignmentHeads(dims: WhisperDims, file?: string): { heads: H[]; source: string } {
  const byName = file ? officialNameFromFile(file) : undefined;
  if (byName) {
    const d = OFFICIAL_DIMS[byName];
    if (d && sameDims(d, dims)) return { heads: sortHeads(OFFICIAL_ALIGNMENT_HEADS[byName]!), source: byName };
  }
  const matches = Object.keys(OFFICIAL_ALIGNMENT_HEADS).filter((n) => sameDims(OFFICIAL_DIMS[n]!, dims));
  // large-v1 and large-v2 share their shape; v2 is the one in use
  const pick = matches.includes('large-v2') ? 'large-v2' : matches[0];
  if (pick) return { heads: sortHeads(OFFICIAL_ALIGNMENT_HEADS[pick]!), source: pick };
  const known = KNOWN_SHAPE_HEADS.find((k) => sameDims(k.dims, dims));
  if (known) return { heads: sortHeads(known.heads), source: `${known.name} (recognised by its shape)` };
  const heads: H[] = [];
  for (let l = Math.floor(dims.n_text_layer / 2); l < dims.n_text_layer; l++) {
    for (let h = 0; h < dims.n_text_head; h++) heads.push([l, h]);
  }
  return { heads, source: 'default (all heads of the second half of the decoder layers)' };
}

/** `small.pt`, `ggml-large-v3-q5_0.bin`, `large-v3-turbo.pt` → the official model name. */
export function officialNameFromFile(file: string): string | undefined {
  let base = path.basename(file).toLowerCase();
  base = base.replace(/\.(pt|bin)$/, '').replace(/^ggml-/, '').replace(/-(q\d_\d|q8_0|f16|f32)$/, '');
  base = ALIASES[base] ?? base;
  return base in OFFICIAL_ALIGNMENT_HEADS ? base : undefined;
}

function sameDims(a: WhisperDims, b: WhisperDims): boolean {
  return (Object.keys(a) as (keyof WhisperDims)[]).every((k) => a[k] === b[k]);
}
