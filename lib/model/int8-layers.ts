import type { WhisperDims } from './dims.js';
import { InvalidOptionError } from '../errors.js';

/**
 * The groups of matmuls that `--quantize int8` can run in 8 bits, each with ONNX Runtime's
 * `DynamicQuantizeMatMul` (uint8 activations quantized per call, int8 weights with one scale per
 * output column):
 *
 * - `encoder-attention`: every encoder block's query, key and value projections (one fused
 *   matrix) and the attention output projection;
 * - `encoder-mlp-in`: the first layer of every encoder MLP (`mlp.0`, D → 4D);
 * - `encoder-mlp-out`: the second layer of every encoder MLP (`mlp.2`, 4D → D);
 * - `cross-kv`: the cross-attention key and value projections of every decoder layer, computed
 *   once per audio window from the encoder's output (one fused matrix);
 * - `decoder-self-attention`: every decoder block's query, key and value projections (fused) and
 *   its output projection;
 * - `decoder-cross-attention`: the cross-attention query and output projections;
 * - `decoder-mlp`: both layers of every decoder MLP;
 * - `logits`: the output projection onto the vocabulary (the tied token embedding, transposed;
 *   the embedding lookup itself stays float32).
 *
 * The attention products themselves (queries × keys, weights × values: activations on both sides)
 * and the two convolutions stay float32.
 */
export const INT8_GROUPS = [
  'encoder-attention',
  'encoder-mlp-in',
  'encoder-mlp-out',
  'cross-kv',
  'decoder-self-attention',
  'decoder-cross-attention',
  'decoder-mlp',
  'logits',
] as const;
export type Int8Group = (typeof INT8_GROUPS)[number];

/**
 * What `--quantize int8` quantizes by default: the largest set that keeps teacher-forced
 * next-token agreement with float32 at or above 99 % on the toy model's 200 held-out files
 * (99.01 %) and on the random-weight reference model (100 %) (`npm run bench:agreement`;
 * figures in the README, "Models"). Left in float32: the encoder MLPs' first layers (alone they
 * bring the toy to 98.1 %: their input, a LayerNorm output with a few wide channels, loses the
 * most to one activation scale per call) and the decoder's self-attention projections (99.4 %
 * alone; with them the set falls to 98.9 %, and they are a small part of a decoder step).
 */
export const DEFAULT_INT8_GROUPS: readonly Int8Group[] = [
  'encoder-attention',
  'encoder-mlp-out',
  'cross-kv',
  'decoder-cross-attention',
  'decoder-mlp',
  'logits',
];

/** One Linear layer inside a quantized matrix (OpenAI's parameter names). */
export interface QuantizedPart {
  /** `….weight`, PyTorch layout `[out, in]`. */
  readonly weight: string;
  /** `….bias`, when the layer has one (zeros in the fused bias otherwise). */
  readonly bias?: string;
  /** A query projection: weight and bias are pre-scaled by 1/sqrt(d_head), as in float32. */
  readonly scaled?: boolean;
}

/**
 * One int8 matrix of a compiled model: Linear layers sharing their input, concatenated along the
 * output columns (`[in, Σ out]`), so the input is quantized once and multiplied in one call.
 * Stored as `<name>.q8` (int8), `<name>.q8scale` (float32 per column) and, when a part has a
 * bias, `<name>.q8bias`.
 */
export interface QuantizedMatrix {
  readonly name: string;
  readonly group: Int8Group;
  readonly parts: readonly QuantizedPart[];
  /** Whether the graph adds the fused bias (some part has one). */
  readonly hasBias: boolean;
}

export const Q8 = '.q8';
export const Q8_SCALE = '.q8scale';
export const Q8_BIAS = '.q8bias';

/** Graph names of the matrices (see {@link quantizedMatrices}). */
export const int8Names = {
  selfQkv: (p: string): string => `${p}.attn.qkv`,
  selfOut: (p: string): string => `${p}.attn.out`,
  crossQuery: (p: string): string => `${p}.cross_attn.query`,
  crossOut: (p: string): string => `${p}.cross_attn.out`,
  mlp0: (p: string): string => `${p}.mlp.0`,
  mlp2: (p: string): string => `${p}.mlp.2`,
  crossKv: 'decoder.cross_kv',
  logits: 'decoder.logits',
} as const;

/** The int8 matrices of a model with these groups quantized. */
export function quantizedMatrices(dims: WhisperDims, groups: readonly Int8Group[]): QuantizedMatrix[] {
  const on = new Set(groups);
  const out: QuantizedMatrix[] = [];
  const add = (name: string, group: Int8Group, parts: QuantizedPart[]): void => {
    if (on.has(group)) out.push({ name, group, parts, hasBias: parts.some((p) => p.bias !== undefined) });
  };
  const attnParts = (p: string): QuantizedPart[] => [
    { weight: `${p}.query.weight`, bias: `${p}.query.bias`, scaled: true },
    { weight: `${p}.key.weight` },
    { weight: `${p}.value.weight`, bias: `${p}.value.bias` },
  ];
  const linear = (p: string): QuantizedPart[] => [{ weight: `${p}.weight`, bias: `${p}.bias` }];
  for (let i = 0; i < dims.n_audio_layer; i++) {
    const p = `encoder.blocks.${i}`;
    add(int8Names.selfQkv(p), 'encoder-attention', attnParts(`${p}.attn`));
    add(int8Names.selfOut(p), 'encoder-attention', linear(`${p}.attn.out`));
    add(int8Names.mlp0(p), 'encoder-mlp-in', linear(`${p}.mlp.0`));
    add(int8Names.mlp2(p), 'encoder-mlp-out', linear(`${p}.mlp.2`));
  }
  const kv: QuantizedPart[] = [];
  for (let l = 0; l < dims.n_text_layer; l++) {
    const p = `decoder.blocks.${l}.cross_attn`;
    kv.push({ weight: `${p}.key.weight` }, { weight: `${p}.value.weight`, bias: `${p}.value.bias` });
  }
  add(int8Names.crossKv, 'cross-kv', kv);
  for (let i = 0; i < dims.n_text_layer; i++) {
    const p = `decoder.blocks.${i}`;
    add(int8Names.selfQkv(p), 'decoder-self-attention', attnParts(`${p}.attn`));
    add(int8Names.selfOut(p), 'decoder-self-attention', linear(`${p}.attn.out`));
    add(int8Names.crossQuery(p), 'decoder-cross-attention', [
      { weight: `${p}.cross_attn.query.weight`, bias: `${p}.cross_attn.query.bias`, scaled: true },
    ]);
    add(int8Names.crossOut(p), 'decoder-cross-attention', linear(`${p}.cross_attn.out`));
    add(int8Names.mlp0(p), 'decoder-mlp', linear(`${p}.mlp.0`));
    add(int8Names.mlp2(p), 'decoder-mlp', linear(`${p}.mlp.2`));
  }
  add(int8Names.logits, 'logits', [{ weight: 'decoder.token_embedding.weight' }]);
  return out;
}

/** Parses `all`, `none` or a comma-separated list of groups; throws an `InvalidOptionError` naming the known ones. */
export function parseInt8Groups(spec: string): Int8Group[] {
  if (spec === 'all') return [...INT8_GROUPS];
  if (spec === 'none' || spec === '') return [];
  const groups = spec.split(',').map((s) => s.trim());
  for (const g of groups) {
    if (!(INT8_GROUPS as readonly string[]).includes(g)) throw new InvalidOptionError('int8Groups', `unknown int8 group "${g}"; known: ${INT8_GROUPS.join(', ')}`);
  }
  return INT8_GROUPS.filter((g) => groups.includes(g));
}
