import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hashFile } from '../util/hash.js';
import type { Checkpoint } from './checkpoint.js';
import type { WhisperDims } from './dims.js';
import type { ExternalRef } from './onnx-graph.js';
import {
  type AlignmentHead,
  type Precision,
  QSCALE_SUFFIX,
  Q_SUFFIX,
  SCALED_SUFFIX,
  T_SUFFIX,
  buildDecoderGraph,
  buildEncoderGraph,
} from './whisper-graphs.js';

export const WEIGHTS_FILE = 'weights.bin';
const ALIGN = 64;
/** Bump when the graphs or the weight layout change: old caches are then rebuilt. */
export const COMPILER_VERSION = 1;

export interface CompiledModel {
  readonly dir: string;
  readonly dims: WhisperDims;
  readonly encoderPath: string;
  readonly decoderPath: string;
  readonly alignmentHeads: readonly AlignmentHead[];
  readonly precision: Precision;
}

interface Meta {
  compiler: number;
  precision?: Precision;
  dims: WhisperDims;
  source: string;
  sha256: string;
  index: Record<string, ExternalRef>;
}

const LINEAR = /\.(query|key|value|out|mlp\.0|mlp\.2)\.weight$/;
/**
 * In int8, the Linear layers quantized: the first layer of each encoder MLP (the widest matmul of
 * the pass that dominates CPU time). On the toy model, quantizing more (both MLP layers, or the
 * attention projections, or the decoder) moved the held-out WER by 2.6 to 6 points; this keeps it
 * within 1 (README, "Models").
 */
const QUANTIZED = /^encoder\.blocks\.\d+\.mlp\.0\.weight/;

/**
 * Symmetric per-column int8 quantization of a `[K, N]` matrix (what ONNX Runtime's
 * `DynamicQuantizeMatMul` takes): for each output column, `scale = max |w| / 127` and
 * `q = round(w / scale)`.
 */
export function quantizeColumns(w: Float32Array, K: number, N: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) scale[n] = Math.max(scale[n]!, Math.abs(w[k * N + n]!));
  for (let n = 0; n < N; n++) scale[n] = scale[n]! > 0 ? scale[n]! / 127 : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) q[k * N + n] = Math.round(w[k * N + n]! / scale[n]!);
  return { q, scale };
}

/**
 * Writes the checkpoint's weights as float32 into `weights.bin`, Linear weights transposed
 * and query projections pre-scaled by 1/sqrt(d_head), one tensor in memory at a time. In int8,
 * the quantized Linear weights are stored as int8 with per-column scales ({@link quantizeColumns}).
 */
function writeWeights(ckpt: Checkpoint, file: string, precision: Precision): Record<string, ExternalRef> {
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
  const putLinear = (name: string, data: Float32Array, dims: readonly [number, number]): void => {
    const [K, N] = dims;
    if (precision === 'fp32' || !QUANTIZED.test(name)) return write(name, data, dims);
    const { q, scale } = quantizeColumns(data, K, N);
    write(`${name}${Q_SUFFIX}`, q, dims);
    write(`${name}${QSCALE_SUFFIX}`, scale, [scale.length]);
  };
  try {
    for (const [name, info] of ckpt.tensors) {
      const data = ckpt.read(name);
      const isDecoder = name.startsWith('decoder.');
      const dh = isDecoder ? ckpt.dims.n_text_state / ckpt.dims.n_text_head : ckpt.dims.n_audio_state / ckpt.dims.n_audio_head;
      const scale = 1 / Math.sqrt(dh);
      if (LINEAR.test(name) && info.shape.length === 2) {
        const [out, inp] = info.shape as [number, number];
        const t = transpose(data, out, inp);
        if (name.endsWith('.query.weight')) {
          putLinear(`${name}${T_SUFFIX}${SCALED_SUFFIX}`, t.map((v) => v * scale), [inp, out]);
        } else {
          putLinear(`${name}${T_SUFFIX}`, t, [inp, out]);
        }
      } else if (name.endsWith('.query.bias')) {
        write(`${name}${SCALED_SUFFIX}`, data.map((v) => v * scale), info.shape);
      } else {
        write(name, data, info.shape);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return index;
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
}

/**
 * Compiles a checkpoint to ONNX graphs in the cache, keyed by the checkpoint's SHA-256; a second
 * call finds them there. The decoder graph depends on the alignment heads and is compiled per set
 * of heads over the same weights file.
 */
export async function compileCheckpoint(ckpt: Checkpoint, opts: CompileOptions): Promise<CompiledModel> {
  const sha = ckpt.contentKey ?? (await cachedFileHash(ckpt.file, opts.cacheDir));
  const precision = opts.precision ?? 'fp32';
  const variant = precision === 'fp32' ? '' : `-${precision}`;
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
      const index = writeWeights(ckpt, path.join(tmp, WEIGHTS_FILE), precision);
      const lookup = (name: string): ExternalRef => {
        const r = index[name];
        if (!r) throw new Error(`compiler bug: no weight ${name}`);
        return r;
      };
      fs.writeFileSync(path.join(tmp, 'encoder.onnx'), buildEncoderGraph(ckpt.dims, lookup, WEIGHTS_FILE, precision));
      meta = { compiler: COMPILER_VERSION, precision, dims: ckpt.dims, source: ckpt.file, sha256: sha, index };
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
  return { dir, dims: meta.dims, encoderPath: path.join(dir, 'encoder.onnx'), decoderPath, alignmentHeads: opts.alignmentHeads, precision };
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
