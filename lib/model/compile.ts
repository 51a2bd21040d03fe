import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InternalError } from '../errors.js';
import { hashFile } from '../util/hash.js';
import type { Checkpoint } from './checkpoint.js';
import type { WhisperDims } from './dims.js';
import type { ExternalRef } from './onnx-graph.js';
import { DEFAULT_INT8_GROUPS, INT8_GROUPS, type Int8Group, Q8, Q8_BIAS, Q8_SCALE, type QuantizedMatrix, quantizedMatrices } from './int8-layers.js';
import {
  type AlignmentHead,
  type Precision,
  SCALED_SUFFIX,
  T_SUFFIX,
  buildDecoderGraph,
  buildEncoderGraph,
} from './whisper-graphs.js';

export const WEIGHTS_FILE = 'weights.bin';
const ALIGN = 64;
/** Bump when the graphs or the weight layout change: old caches are then rebuilt. */
export const COMPILER_VERSION = 4;

export interface CompiledModel {
  readonly dir: string;
  readonly dims: WhisperDims;
  readonly encoderPath: string;
  readonly decoderPath: string;
  readonly alignmentHeads: readonly AlignmentHead[];
  readonly precision: Precision;
  /** In int8, the groups of matmuls in 8 bits. */
  readonly int8Groups: readonly Int8Group[];
  /** In int8, bits of magnitude of the weights (8, or 7 for CPUs without VNNI). */
  readonly int8WeightBits: 7 | 8;
}

interface Meta {
  compiler: number;
  precision?: Precision;
  int8Groups?: Int8Group[];
  int8WeightBits?: 7 | 8;
  dims: WhisperDims;
  source: string;
  sha256: string;
  index: Record<string, ExternalRef>;
}

const LINEAR = /\.(query|key|value|out|mlp\.0|mlp\.2)\.weight$/;

/**
 * Symmetric per-column quantization of a `[K, N]` matrix to int8 (what ONNX Runtime's
 * `DynamicQuantizeMatMul` takes): for each output column, `scale = max |w| / max` and
 * `q = round(w / scale)`, with `max` 127 (8 bits of magnitude) or 63 (7 bits, for CPUs whose
 * kernels would saturate: see `int8WeightBitsForThisCpu`).
 */
export function quantizeColumns(w: Float32Array, K: number, N: number, max: 127 | 63 = 127): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) scale[n] = Math.max(scale[n]!, Math.abs(w[k * N + n]!));
  for (let n = 0; n < N; n++) scale[n] = scale[n]! > 0 ? scale[n]! / max : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) q[k * N + n] = Math.round(w[k * N + n]! / scale[n]!);
  return { q, scale };
}

/** 1/sqrt(d_head) of the encoder or the decoder, by a tensor's name. */
function queryScale(dims: WhisperDims, name: string): number {
  const dh = name.startsWith('decoder.') ? dims.n_text_state / dims.n_text_head : dims.n_audio_state / dims.n_audio_head;
  return 1 / Math.sqrt(dh);
}

/**
 * Writes the checkpoint's weights as float32 into `weights.bin`, Linear weights transposed
 * and query projections pre-scaled by 1/sqrt(d_head), one tensor in memory at a time. In int8,
 * the Linear layers of the quantized groups are written instead as int8 matrices with per-column
 * scales and a fused bias ({@link quantizedMatrices}, {@link quantizeColumns}); the token
 * embedding stays float32 for the lookup, its int8 transpose is added for the logits.
 */
function writeWeights(ckpt: Checkpoint, file: string, matrices: readonly QuantizedMatrix[], weightMax: 127 | 63): Record<string, ExternalRef> {
  const index: Record<string, ExternalRef> = {};
  const fd = fs.openSync(file, 'w');
  let offset = 0;
  const write = (name: string, data: Float32Array | Int8Array, dims: readonly number[]): void => {
    const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
    if (pad) {
      fs.writeSync(fd, Buffer.alloc(pad));
      offset += pad;
    }
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    fs.writeSync(fd, buf);
    index[name] = { offset, length: buf.length, dims: [...dims], ...(data instanceof Int8Array ? { type: 'int8' as const } : {}) };
    offset += buf.length;
  };
  const covered = new Set<string>();
  for (const m of matrices) for (const p of m.parts) if (p.weight !== 'decoder.token_embedding.weight') covered.add(p.weight).add(p.bias ?? p.weight);
  try {
    for (const [name, info] of ckpt.tensors) {
      if (covered.has(name)) continue;
      const data = ckpt.read(name);
      const scale = queryScale(ckpt.dims, name);
      if (LINEAR.test(name) && info.shape.length === 2) {
        const [out, inp] = info.shape as [number, number];
        const t = transpose(data, out, inp);
        if (name.endsWith('.query.weight')) write(`${name}${T_SUFFIX}${SCALED_SUFFIX}`, t.map((v) => v * scale), [inp, out]);
        else write(`${name}${T_SUFFIX}`, t, [inp, out]);
      } else if (name.endsWith('.query.bias')) {
        write(`${name}${SCALED_SUFFIX}`, data.map((v) => v * scale), info.shape);
      } else {
        write(name, data, info.shape);
      }
    }
    for (const m of matrices) writeQuantized(ckpt, m, weightMax, write);
  } finally {
    fs.closeSync(fd);
  }
  return index;
}

/** One int8 matrix: its parts transposed to `[in, out]`, quantized per column, side by side. */
function writeQuantized(
  ckpt: Checkpoint,
  m: QuantizedMatrix,
  weightMax: 127 | 63,
  write: (name: string, data: Float32Array | Int8Array, dims: readonly number[]) => void,
): void {
  const pieces = m.parts.map((p) => {
    const shape = ckpt.tensors.get(p.weight)?.shape;
    if (!shape || shape.length !== 2) throw new InternalError(`compiler: no 2-D weight ${p.weight}`);
    const [out, inp] = shape as [number, number];
    const scale = p.scaled ? queryScale(ckpt.dims, p.weight) : 1;
    let t = transpose(ckpt.read(p.weight), out, inp);
    if (scale !== 1) t = t.map((v) => v * scale);
    const bias = p.bias ? ckpt.read(p.bias).map((v) => v * scale) : new Float32Array(out);
    return { inp, out, bias, ...quantizeColumns(t, inp, out, weightMax) };
  });
  const K = pieces[0]!.inp;
  const N = pieces.reduce((n, p) => n + p.out, 0);
  const q = new Int8Array(K * N);
  const scale = new Float32Array(N);
  const bias = new Float32Array(N);
  let col = 0;
  for (const p of pieces) {
    if (p.inp !== K) throw new InternalError(`compiler: ${m.name} mixes inputs of ${K} and ${p.inp}`);
    for (let k = 0; k < K; k++) q.set(p.q.subarray(k * p.out, (k + 1) * p.out), k * N + col);
    scale.set(p.scale, col);
    bias.set(p.bias, col);
    col += p.out;
  }
  write(`${m.name}${Q8}`, q, [K, N]);
  write(`${m.name}${Q8_SCALE}`, scale, [N]);
  if (m.hasBias) write(`${m.name}${Q8_BIAS}`, bias, [N]);
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) t[c * rows + r] = a[base + c]!;
  }
  return t;
}

/** A short, stable name for a set of alignment heads. */
export function headsKey(heads: readonly AlignmentHead[]): string {
  const s = heads.map(([l, h]) => `${l}.${h}`).join('_');
  return s.length <= 40 ? s : crypto.createHash('sha1').update(s).digest('hex').slice(0, 16);
}

export interface CompileOptions {
  /** Root of the compiled-model cache. */
  readonly cacheDir: string;
  readonly alignmentHeads: readonly AlignmentHead[];
  /** Progress messages (compiling takes a while for large models). */
  readonly log?: (msg: string) => void;
  /** `int8`: 8-bit Linear weights (dynamic quantization), cached as a separate variant. Default `fp32`. */
  readonly precision?: Precision;
  /** In int8, which groups of matmuls (default {@link DEFAULT_INT8_GROUPS}); each set is its own variant. */
  readonly int8Groups?: readonly Int8Group[];
  /** In int8, bits of magnitude of the weights: 8 (default) or 7 (CPUs without VNNI; its own variant). */
  readonly int8WeightBits?: 7 | 8;
}

/** A short name for a set of int8 groups: the bit mask of their places in {@link INT8_GROUPS}. */
function groupsKey(groups: readonly Int8Group[]): string {
  return INT8_GROUPS.reduce((mask, g, i) => (groups.includes(g) ? mask | (1 << i) : mask), 0).toString(16);
}

/**
 * Compiles a checkpoint to ONNX graphs in the cache, keyed by the checkpoint's SHA-256; a second
 * call finds them there. The decoder graph depends on the alignment heads and is compiled per set
 * of heads over the same weights file.
 */
export async function compileCheckpoint(ckpt: Checkpoint, opts: CompileOptions): Promise<CompiledModel> {
  // a generated checkpoint's key is hashed too: the directory name keeps only its first 20 characters
  const sha = ckpt.contentKey !== undefined ? crypto.createHash('sha256').update(ckpt.contentKey).digest('hex') : await cachedFileHash(ckpt.file, opts.cacheDir);
  const precision = opts.precision ?? 'fp32';
  const groups = precision === 'int8' ? INT8_GROUPS.filter((g) => (opts.int8Groups ?? DEFAULT_INT8_GROUPS).includes(g)) : [];
  const bits = opts.int8WeightBits ?? 8;
  const variant = precision === 'fp32' ? '' : `-${precision}-${groupsKey(groups)}${bits === 7 ? '-w7' : ''}`;
  const dir = path.join(opts.cacheDir, 'compiled', `${sha.slice(0, 20)}-v${COMPILER_VERSION}${variant}`);
  const metaPath = path.join(dir, 'meta.json');
  let meta: Meta | undefined;
  if (fs.existsSync(metaPath)) {
    meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as Meta;
  } else {
    opts.log?.(`compiling ${path.basename(ckpt.file)} to ONNX (${precision}) in ${dir}`);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    fs.mkdirSync(tmp, { recursive: true });
    try {
      const index = writeWeights(ckpt, path.join(tmp, WEIGHTS_FILE), quantizedMatrices(ckpt.dims, groups), bits === 7 ? 63 : 127);
      const lookup = (name: string): ExternalRef => {
        const r = index[name];
        if (!r) throw new InternalError(`compiler: no weight ${name}`);
        return r;
      };
      fs.writeFileSync(path.join(tmp, 'encoder.onnx'), buildEncoderGraph(ckpt.dims, lookup, WEIGHTS_FILE, precision));
      meta = { compiler: COMPILER_VERSION, precision, int8Groups: groups, int8WeightBits: bits, dims: ckpt.dims, source: ckpt.file, sha256: sha, index };
      fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta));
      try {
        fs.renameSync(tmp, dir);
      } catch (err) {
        // Another process finished the same compilation first: use theirs.
        fs.rmSync(tmp, { recursive: true, force: true });
        if (!fs.existsSync(metaPath)) throw err;
      }
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }
  const decoderPath = path.join(dir, `decoder-${headsKey(opts.alignmentHeads)}.onnx`);
  if (!fs.existsSync(decoderPath)) {
    const m = meta;
    const graph = buildDecoderGraph(m.dims, opts.alignmentHeads, (name) => m.index[name]!, WEIGHTS_FILE, precision);
    const tmp = `${decoderPath}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, graph);
    fs.renameSync(tmp, decoderPath);
  }
  return { dir, dims: meta.dims, encoderPath: path.join(dir, 'encoder.onnx'), decoderPath, alignmentHeads: opts.alignmentHeads, precision, int8Groups: meta.int8Groups ?? [], int8WeightBits: meta.int8WeightBits ?? bits };
}

/** SHA-256 of a checkpoint, remembered by path, size and mtime so a restart does not re-hash 3 GB. */
async function cachedFileHash(file: string, cacheDir: string): Promise<string> {
  const st = fs.statSync(file);
  const key = crypto.createHash('sha1').update(`${path.resolve(file)}|${st.size}|${st.mtimeMs}`).digest('hex');
  const memo = path.join(cacheDir, 'hashes', `${key}.sha256`);
  try {
    const v = fs.readFileSync(memo, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(v)) return v;
  } catch {
    // not hashed yet
  }
  const sha = await hashFile(file);
  fs.mkdirSync(path.dirname(memo), { recursive: true });
  fs.writeFileSync(memo, sha);
  return sha;
}
