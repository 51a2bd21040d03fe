import type { WhisperDims } from './dims.js';
import { Q8, Q8_BIAS, Q8_SCALE, int8Names } from './int8-layers.js';
import { type ExternalRef, GraphBuilder } from './onnx-graph.js';

/** One (layer, head) pair of the decoder's cross-attention. */
export type AlignmentHead = readonly [layer: number, head: number];

/** Looks up where a (transformed) weight lives in the weights file. */
export type WeightIndex = (name: string) => ExternalRef;

/**
 * Names of the weights as the graphs use them. The compiler stores Linear weights transposed
 * (`[in, out]`, ready for MatMul) and folds the attention scale 1/sqrt(d_head) into every query
 * projection; these suffixes say so.
 */
export const T_SUFFIX = '.T';
export const SCALED_SUFFIX = '.scaled';

/** Weight precision of the Linear layers: `fp32`, or `int8` (dynamic quantization). */
export type Precision = 'fp32' | 'int8';

const LN_EPS = 1e-5;

class WhisperGraph {
  constructor(
    readonly g: GraphBuilder,
    readonly w: WeightIndex,
    readonly precision: Precision = 'fp32',
  ) {}

  weight(name: string): string {
    return this.g.external(name, this.w(name));
  }

  /** Whether the weights file has this weight. */
  has(name: string): boolean {
    try {
      return this.w(name) !== undefined;
    } catch {
      return false;
    }
  }

  /** Whether the compiler wrote this int8 matrix ({@link quantizedMatrices}). */
  quantized(matrix: string): boolean {
    return this.has(`${matrix}${Q8}`);
  }

  /**
   * x @ W + b for an int8 matrix: ONNX Runtime's `DynamicQuantizeMatMul` quantizes x per call
   * (uint8, one scale and zero point per call) and multiplies in integers with the int8 weights
   * (one scale per column), adding the fused bias.
   */
  q8(x: string, matrix: string): string {
    const inputs = [x, this.weight(`${matrix}${Q8}`), this.weight(`${matrix}${Q8_SCALE}`)];
    if (this.has(`${matrix}${Q8_BIAS}`)) inputs.push('', this.weight(`${matrix}${Q8_BIAS}`));
    return this.g.node('DynamicQuantizeMatMul', inputs, {}, undefined, 'com.microsoft')[0]!;
  }

  /** Splits the last axis into pieces of these sizes. */
  split(x: string, sizes: readonly number[]): string[] {
    const outs = sizes.map(() => `split_${this.g.fresh()}`);
    return this.g.node('Split', [x, this.g.int64(sizes)], { axis: -1 }, outs);
  }

  layerNorm(x: string, p: string): string {
    return this.g.op('LayerNormalization', [x, this.weight(`${p}.weight`), this.weight(`${p}.bias`)], {
      axis: -1,
      epsilon: { float: LN_EPS },
    });
  }

  /** x @ W (+ b) with W stored transposed, float32. */
  linear(x: string, p: string, bias: boolean, scaled = false): string {
    const s = scaled ? SCALED_SUFFIX : '';
    const y = this.g.op('MatMul', [x, this.weight(`${p}.weight${T_SUFFIX}${s}`)]);
    return bias ? this.g.op('Add', [y, this.weight(`${p}.bias${s}`)]) : y;
  }

  /** A Linear layer (bias included), in int8 when the compiler quantized its matrix, else float32. */
  project(x: string, matrix: string, p: string, scaled = false): string {
    return this.quantized(matrix) ? this.q8(x, matrix) : this.linear(x, p, true, scaled);
  }

  /**
   * Exact (erf) GELU, as torch's default. The int8 variant uses ONNX Runtime's one-kernel `Gelu`
   * (its float32 graph keeps the elementary ops, whose numbers the reference tests pin).
   */
  gelu(x: string): string {
    const g = this.g;
    if (this.precision === 'int8') return g.node('Gelu', [x], {}, undefined, 'com.microsoft')[0]!;
    const e = g.op('Erf', [g.op('Mul', [x, g.float([Math.SQRT1_2], [])])]);
    return g.op('Mul', [g.op('Mul', [x, g.float([0.5], [])]), g.op('Add', [e, g.float([1], [])])]);
  }

  /** [B, T, D] → [B, H, T, dh] */
  splitHeads(x: string, heads: number, dh: number): string {
    const r = this.g.op('Reshape', [x, this.g.int64([0, 0, heads, dh])]);
    return this.g.op('Transpose', [r], { perm: [0, 2, 1, 3] });
  }

  /** [B, H, T, dh] → [B, T, D] */
  mergeHeads(x: string): string {
    const t = this.g.op('Transpose', [x], { perm: [0, 2, 1, 3] });
    return this.g.op('Reshape', [t, this.g.int64([0, 0, -1])]);
  }

  mlp(x: string, p: string): string {
    const h = this.gelu(this.project(this.layerNorm(x, `${p}.mlp_ln`), int8Names.mlp0(p), `${p}.mlp.0`));
    return this.g.op('Add', [x, this.project(h, int8Names.mlp2(p), `${p}.mlp.2`)]);
  }

  /**
   * Self-attention projections: `[q, k, v]`, each `[B, T, D]`, q pre-scaled. One int8 matmul
   * when the compiler fused them, else three float32 ones.
   */
  qkv(h: string, p: string, D: number): string[] {
    if (this.quantized(int8Names.selfQkv(p))) return this.split(this.q8(h, int8Names.selfQkv(p)), [D, D, D]);
    return [this.linear(h, `${p}.attn.query`, true, true), this.linear(h, `${p}.attn.key`, false), this.linear(h, `${p}.attn.value`, true)];
  }
}

/**
 * Encoder: log-mel `[B, n_mels, F]` → `audio_features [B, F/2, D]` and, for every decoder
 * layer, the cross-attention keys (`cross_k.L`, `[B, H, dh, F/2]`, pre-transposed) and
 * values (`cross_v.L`, `[B, H, F/2, dh]`), computed once per audio window. F is Whisper's 3000
 * (30 s), or fewer frames for a window fitted to shorter audio (whisper.cpp's `audio_ctx`): the
 * positional embedding is then cut to the first F/2 positions.
 */
export function buildEncoderGraph(dims: WhisperDims, weights: WeightIndex, externalFile: string, precision: Precision = 'fp32'): Uint8Array {
  const g = new GraphBuilder('whisper_encoder', externalFile);
  const m = new WhisperGraph(g, weights, precision);
  const A = dims.n_audio_state;
  const H = dims.n_audio_head;
  const dh = A / H;
  const mel = g.input('mel', 'float32', ['batch', dims.n_mels, 'frames']);
  let x = m.gelu(
    g.op('Conv', [mel, m.weight('encoder.conv1.weight'), m.weight('encoder.conv1.bias')], { kernel_shape: [3], pads: [1, 1] }),
  );
  x = m.gelu(
    g.op('Conv', [x, m.weight('encoder.conv2.weight'), m.weight('encoder.conv2.bias')], {
      kernel_shape: [3],
      pads: [1, 1],
      strides: [2],
    }),
  );
  x = g.op('Transpose', [x], { perm: [0, 2, 1] });
  const positions = g.op('Slice', [m.weight('encoder.positional_embedding'), g.int64([0]), g.op('Shape', [x], { start: 1, end: 2 }), g.int64([0])]);
  x = g.op('Add', [x, positions]);
  for (let i = 0; i < dims.n_audio_layer; i++) {
    const p = `encoder.blocks.${i}`;
    const h = m.layerNorm(x, `${p}.attn_ln`);
    const [qp, kp, vp] = m.qkv(h, p, A);
    let a: string;
    if (precision === 'int8') {
      // ONNX Runtime's fused attention (float32; q is pre-scaled, hence scale 1)
      a = g.node('MultiHeadAttention', [qp!, kp!, vp!], { num_heads: H, scale: { float: 1 } }, undefined, 'com.microsoft')[0]!;
    } else {
      const q = m.splitHeads(qp!, H, dh);
      const k = g.op('Transpose', [g.op('Reshape', [kp!, g.int64([0, 0, H, dh])])], { perm: [0, 2, 3, 1] });
      const w = g.op('Softmax', [g.op('MatMul', [q, k])], { axis: -1 });
      a = m.mergeHeads(g.op('MatMul', [w, m.splitHeads(vp!, H, dh)]));
    }
    const o = m.project(a, int8Names.selfOut(p), `${p}.attn.out`);
    x = m.mlp(g.op('Add', [x, o]), p);
  }
  x = m.layerNorm(x, 'encoder.ln_post');
  g.output(x, 'audio_features', 'float32', ['batch', 'ctx', A]);
  const Ht = dims.n_text_head;
  const dht = dims.n_text_state / Ht;
  const D = dims.n_text_state;
  const L = dims.n_text_layer;
  // cross-attention keys and values of every decoder layer: one int8 matmul, or two float32 ones per layer
  const kv = m.quantized(int8Names.crossKv) ? m.split(m.q8(x, int8Names.crossKv), Array.from({ length: 2 * L }, () => D)) : undefined;
  for (let l = 0; l < L; l++) {
    const p = `decoder.blocks.${l}.cross_attn`;
    const kl = kv ? kv[2 * l]! : m.linear(x, `${p}.key`, false);
    const vl = kv ? kv[2 * l + 1]! : m.linear(x, `${p}.value`, true);
    const k = g.op('Reshape', [kl, g.int64([0, 0, Ht, dht])]);
    g.output(g.op('Transpose', [k], { perm: [0, 2, 3, 1] }), `cross_k.${l}`, 'float32', ['batch', Ht, dht, 'ctx']);
    g.output(m.splitHeads(vl, Ht, dht), `cross_v.${l}`, 'float32', ['batch', Ht, 'ctx', dht]);
  }
  return g.encode();
}

/**
 * Decoder step with a self-attention key/value cache.
 *
 * Inputs: `tokens [B, T]`, `positions [B|1, T]` (absolute positions), `mask [B|1, 1, T, P+T]`
 * (additive: 0 or -inf), `logits_start [1]` (logits are returned for positions ≥ it),
 * `past_k.L`/`past_v.L [B, H, P, dh]`, `cross_k.L`/`cross_v.L` from the encoder (batch B or 1).
 * Outputs: `logits [B, T - logits_start, V]`, `present_k.L`/`present_v.L [B, H, P+T, dh]`, and
 * `alignment_attn [B, n_heads, T, C]`: the softmaxed cross-attention of the alignment heads,
 * in the order given, over the C encoder frames of the window (1500 for 30 s).
 */
export function buildDecoderGraph(
  dims: WhisperDims,
  alignmentHeads: readonly AlignmentHead[],
  weights: WeightIndex,
  externalFile: string,
  precision: Precision = 'fp32',
): Uint8Array {
  const g = new GraphBuilder('whisper_decoder', externalFile);
  const m = new WhisperGraph(g, weights, precision);
  const D = dims.n_text_state;
  const H = dims.n_text_head;
  const dh = D / H;
  const tokens = g.input('tokens', 'int64', ['batch', 'tokens']);
  const positions = g.input('positions', 'int64', ['pos_batch', 'tokens']);
  const mask = g.input('mask', 'float32', ['mask_batch', 1, 'tokens', 'total']);
  const logitsStart = g.input('logits_start', 'int64', [1]);
  const emb = m.weight('decoder.token_embedding.weight');
  let x = g.op('Add', [g.op('Gather', [emb, tokens]), g.op('Gather', [m.weight('decoder.positional_embedding'), positions])]);
  const align: string[] = [];
  for (let l = 0; l < dims.n_text_layer; l++) {
    const p = `decoder.blocks.${l}`;
    const pastK = g.input(`past_k.${l}`, 'float32', ['batch', H, 'past', dh]);
    const pastV = g.input(`past_v.${l}`, 'float32', ['batch', H, 'past', dh]);
    const crossK = g.input(`cross_k.${l}`, 'float32', ['cross_batch', H, dh, 'ctx']);
    const crossV = g.input(`cross_v.${l}`, 'float32', ['cross_batch', H, 'ctx', dh]);
    // self-attention over the cache plus the new tokens
    let h = m.layerNorm(x, `${p}.attn_ln`);
    const [qp, kp, vp] = m.qkv(h, p, D);
    const q = m.splitHeads(qp!, H, dh);
    const k = g.op('Concat', [pastK, m.splitHeads(kp!, H, dh)], { axis: 2 });
    const v = g.op('Concat', [pastV, m.splitHeads(vp!, H, dh)], { axis: 2 });
    g.output(k, `present_k.${l}`, 'float32', ['batch', H, 'total', dh]);
    g.output(v, `present_v.${l}`, 'float32', ['batch', H, 'total', dh]);
    const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] });
    const sw = g.op('Softmax', [g.op('Add', [g.op('MatMul', [q, kT]), mask])], { axis: -1 });
    x = g.op('Add', [x, m.project(m.mergeHeads(g.op('MatMul', [sw, v])), int8Names.selfOut(p), `${p}.attn.out`)]);
    // cross-attention over the audio
    h = m.layerNorm(x, `${p}.cross_attn_ln`);
    const cq = m.splitHeads(m.project(h, int8Names.crossQuery(p), `${p}.cross_attn.query`, true), H, dh);
    const cw = g.op('Softmax', [g.op('MatMul', [cq, crossK])], { axis: -1 });
    const heads = alignmentHeads.filter(([layer]) => layer === l).map(([, head]) => head);
    if (heads.length > 0) align.push(g.op('Gather', [cw, g.int64(heads)], { axis: 1 }));
    x = g.op('Add', [x, m.project(m.mergeHeads(g.op('MatMul', [cw, crossV])), int8Names.crossOut(p), `${p}.cross_attn.out`)]);
    x = m.mlp(x, p);
  }
  x = m.layerNorm(x, 'decoder.ln');
  const sel = g.op('Slice', [x, logitsStart, g.int64([Number.MAX_SAFE_INTEGER]), g.int64([1])]);
  const flat = g.op('Reshape', [sel, g.int64([-1, D])]);
  const logits2d = m.quantized(int8Names.logits) ? m.q8(flat, int8Names.logits) : g.op('Gemm', [flat, emb], { transB: 1 });
  const outShape = g.op('Concat', [g.op('Slice', [g.op('Shape', [sel]), g.int64([0]), g.int64([2])]), g.int64([-1])], { axis: 0 });
  g.output(g.op('Reshape', [logits2d, outShape]), 'logits', 'float32', ['batch', 'logit_tokens', dims.n_vocab]);
  const attn = align.length === 1 ? align[0]! : g.op('Concat', align, { axis: 1 });
  g.output(attn, 'alignment_attn', 'float32', ['batch', alignmentHeads.length, 'tokens', 'ctx']);
  return g.encode();
}
