import type { WhisperDims } from './dims.js';
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
/** int8 variant: the quantized weight (`[in, out]`, int8) and its per-column scales (`[out]`). */
export const Q_SUFFIX = '.q8';
export const QSCALE_SUFFIX = '.q8scale';

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

  /**
   * x @ W with W in int8 (per-column scales): ONNX Runtime's `DynamicQuantizeMatMul` quantizes x
   * per call (uint8) and multiplies in integers, as its `quantize_dynamic` tool would.
   */
  quantizedMatMul(x: string, w: string): string {
    return this.g.node('DynamicQuantizeMatMul', [x, this.weight(`${w}${Q_SUFFIX}`), this.weight(`${w}${QSCALE_SUFFIX}`)], {}, undefined, 'com.microsoft')[0]!;
  }

  /** Whether the weights file has this weight (an int8 variant quantizes only some layers). */
  has(name: string): boolean {
    try {
      return this.w(name) !== undefined;
    } catch {
      return false;
    }
  }

  layerNorm(x: string, p: string): string {
    return this.g.op('LayerNormalization', [x, this.weight(`${p}.weight`), this.weight(`${p}.bias`)], {
      axis: -1,
      epsilon: { float: LN_EPS },
    });
  }

  /** x @ W (+ b) with W stored transposed (int8 where the variant quantized it, see {@link quantizedMatMul}). */
  linear(x: string, p: string, bias: boolean, scaled = false): string {
    const s = scaled ? SCALED_SUFFIX : '';
    const w = `${p}.weight${T_SUFFIX}${s}`;
    const y =
      this.precision === 'int8' && this.has(`${w}${Q_SUFFIX}`)
        ? this.quantizedMatMul(x, w)
        : this.g.op('MatMul', [x, this.weight(w)]);
    return bias ? this.g.op('Add', [y, this.weight(`${p}.bias${s}`)]) : y;
  }

  /** Exact (erf) GELU, as torch's default; ONNX Runtime fuses it into one kernel. */
  gelu(x: string): string {
    const g = this.g;
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
    const h = this.gelu(this.linear(this.layerNorm(x, `${p}.mlp_ln`), `${p}.mlp.0`, true));
    return this.g.op('Add', [x, this.linear(h, `${p}.mlp.2`, true)]);
  }
}

/**
 * Encoder: log-mel `[B, n_mels, 3000]` → `audio_features [B, 1500, D]` and, for every decoder
 * layer, the cross-attention keys (`cross_k.L`, `[B, H, dh, 1500]`, pre-transposed) and
 * values (`cross_v.L`, `[B, H, 1500, dh]`), computed once per audio window.
 */
export function buildEncoderGraph(dims: WhisperDims, weights: WeightIndex, externalFile: string, precision: Precision = 'fp32'): Uint8Array {
  const g = new GraphBuilder('whisper_encoder', externalFile);
  const m = new WhisperGraph(g, weights, precision);
  const A = dims.n_audio_state;
  const H = dims.n_audio_head;
  const dh = A / H;
  const frames = dims.n_audio_ctx * 2;
  const mel = g.input('mel', 'float32', ['batch', dims.n_mels, frames]);
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
  x = g.op('Add', [x, m.weight('encoder.positional_embedding')]);
  for (let i = 0; i < dims.n_audio_layer; i++) {
    const p = `encoder.blocks.${i}`;
    const h = m.layerNorm(x, `${p}.attn_ln`);
    const q = m.splitHeads(m.linear(h, `${p}.attn.query`, true, true), H, dh);
    const k = g.op('Transpose', [g.op('Reshape', [m.linear(h, `${p}.attn.key`, false), g.int64([0, 0, H, dh])])], {
      perm: [0, 2, 3, 1],
    });
    const v = m.splitHeads(m.linear(h, `${p}.attn.value`, true), H, dh);
    const w = g.op('Softmax', [g.op('MatMul', [q, k])], { axis: -1 });
    const o = m.linear(m.mergeHeads(g.op('MatMul', [w, v])), `${p}.attn.out`, true);
    x = m.mlp(g.op('Add', [x, o]), p);
  }
  x = m.layerNorm(x, 'encoder.ln_post');
  g.output(x, 'audio_features', 'float32', ['batch', dims.n_audio_ctx, A]);
  const Ht = dims.n_text_head;
  const dht = dims.n_text_state / Ht;
  for (let l = 0; l < dims.n_text_layer; l++) {
    const p = `decoder.blocks.${l}.cross_attn`;
    const k = g.op('Reshape', [m.linear(x, `${p}.key`, false), g.int64([0, 0, Ht, dht])]);
    g.output(g.op('Transpose', [k], { perm: [0, 2, 3, 1] }), `cross_k.${l}`, 'float32', ['batch', Ht, dht, dims.n_audio_ctx]);
    const v = m.splitHeads(m.linear(x, `${p}.value`, true), Ht, dht);
    g.output(v, `cross_v.${l}`, 'float32', ['batch', Ht, dims.n_audio_ctx, dht]);
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
 * `alignment_attn [B, n_heads, T, 1500]`: the softmaxed cross-attention of the alignment heads,
 * in the order given.
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
  const nCtx = dims.n_audio_ctx;
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
    const crossK = g.input(`cross_k.${l}`, 'float32', ['cross_batch', H, dh, nCtx]);
    const crossV = g.input(`cross_v.${l}`, 'float32', ['cross_batch', H, nCtx, dh]);
    // self-attention over the cache plus the new tokens
    let h = m.layerNorm(x, `${p}.attn_ln`);
    const q = m.splitHeads(m.linear(h, `${p}.attn.query`, true, true), H, dh);
    const k = g.op('Concat', [pastK, m.splitHeads(m.linear(h, `${p}.attn.key`, false), H, dh)], { axis: 2 });
    const v = g.op('Concat', [pastV, m.splitHeads(m.linear(h, `${p}.attn.value`, true), H, dh)], { axis: 2 });
    g.output(k, `present_k.${l}`, 'float32', ['batch', H, 'total', dh]);
    g.output(v, `present_v.${l}`, 'float32', ['batch', H, 'total', dh]);
    const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] });
    const sw = g.op('Softmax', [g.op('Add', [g.op('MatMul', [q, kT]), mask])], { axis: -1 });
    x = g.op('Add', [x, m.linear(m.mergeHeads(g.op('MatMul', [sw, v])), `${p}.attn.out`, true)]);
    // cross-attention over the audio
    h = m.layerNorm(x, `${p}.cross_attn_ln`);
    const cq = m.splitHeads(m.linear(h, `${p}.cross_attn.query`, true, true), H, dh);
    const cw = g.op('Softmax', [g.op('MatMul', [cq, crossK])], { axis: -1 });
    const heads = alignmentHeads.filter(([layer]) => layer === l).map(([, head]) => head);
    if (heads.length > 0) align.push(g.op('Gather', [cw, g.int64(heads)], { axis: 1 }));
    x = g.op('Add', [x, m.linear(m.mergeHeads(g.op('MatMul', [cw, crossV])), `${p}.cross_attn.out`, true)]);
    x = m.mlp(x, p);
  }
  x = m.layerNorm(x, 'decoder.ln');
  const sel = g.op('Slice', [x, logitsStart, g.int64([Number.MAX_SAFE_INTEGER]), g.int64([1])]);
  const flat = g.op('Reshape', [sel, g.int64([-1, D])]);
  const logits2d = g.op('Gemm', [flat, emb], { transB: 1 });
  const outShape = g.op('Concat', [g.op('Slice', [g.op('Shape', [sel]), g.int64([0]), g.int64([2])]), g.int64([-1])], { axis: 0 });
  g.output(g.op('Reshape', [logits2d, outShape]), 'logits', 'float32', ['batch', 'logit_tokens', dims.n_vocab]);
  const attn = align.length === 1 ? align[0]! : g.op('Concat', align, { axis: 1 });
  g.output(attn, 'alignment_attn', 'float32', ['batch', alignmentHeads.length, 'tokens', nCtx]);
  return g.encode();
}
