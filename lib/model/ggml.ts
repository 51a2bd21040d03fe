import fs from 'node:fs';
import { CheckpointError, InternalError } from '../errors.js';
import { halfBitsToFloat } from '../util/half.js';
import type { Checkpoint, StoredType, TensorInfo } from './checkpoint.js';
import { DIM_NAMES, type WhisperDims, expectedTensorShapes } from './dims.js';
import { checkTensorShapes } from './tensor-check.js';
import { widenToFloat32 } from './widen.js';

export const GGML_MAGIC = 0x67676d6c;

/** ggml tensor type ids (ggml.h) and their block layout. */
const GGML_TYPES: Record<number, { type: StoredType; blockElems: number; blockBytes: number }> = {
  0: { type: 'f32', blockElems: 1, blockBytes: 4 },
  1: { type: 'f16', blockElems: 1, blockBytes: 2 },
  2: { type: 'q4_0', blockElems: 32, blockBytes: 18 },
  3: { type: 'q4_1', blockElems: 32, blockBytes: 20 },
  6: { type: 'q5_0', blockElems: 32, blockBytes: 22 },
  7: { type: 'q5_1', blockElems: 32, blockBytes: 24 },
  8: { type: 'q8_0', blockElems: 32, blockBytes: 34 },
};

export const GGML_TYPE_IDS: Partial<Record<StoredType, number>> = {
  f32: 0,
  f16: 1,
  q4_0: 2,
  q4_1: 3,
  q5_0: 6,
  q5_1: 7,
  q8_0: 8,
};

interface GgmlTensor extends TensorInfo {
  readonly offset: number;
  readonly byteLength: number;
  readonly count: number;
}

/** Reads through a file descriptor with bounds checks that name the file. */
class FileCursor {
  pos = 0;
  constructor(
    readonly fd: number,
    readonly size: number,
    readonly file: string,
  ) {}
  bytes(n: number, what: string): Buffer {
    if (this.pos + n > this.size) {
      throw new CheckpointError(
        'ERR_CHECKPOINT_TRUNCATED',
        this.file,
        `truncated: ${what} needs ${n} bytes at offset ${this.pos}, but the file has ${this.size} bytes`,
      );
    }
    const b = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const r = fs.readSync(this.fd, b, done, n - done, this.pos + done);
      if (r === 0) throw new CheckpointError('ERR_CHECKPOINT_TRUNCATED', this.file, `truncated while reading ${what}`);
      done += r;
    }
    this.pos += n;
    return b;
  }
  i32(what: string): number {
    return this.bytes(4, what).readInt32LE(0);
  }
  u32(what: string): number {
    return this.bytes(4, what).readUInt32LE(0);
  }
}

/** Opens a whisper.cpp `ggml` model file (f32, f16 and the q4/q5/q8 block formats). */
export function openGgml(file: string): Checkpoint {
  const fd = fs.openSync(file, 'r');
  try {
    return readGgml(fd, file);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

function readGgml(fd: number, file: string): Checkpoint {
  const size = fs.fstatSync(fd).size;
  const c = new FileCursor(fd, size, file);
  if (size < 4) throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, 'not a Whisper checkpoint (file too small)');
  const magic = c.u32('magic');
  if (magic !== GGML_MAGIC) {
    throw new CheckpointError(
      'ERR_CHECKPOINT_FORMAT',
      file,
      `not a whisper.cpp ggml file (magic 0x${magic.toString(16)}, expected 0x${GGML_MAGIC.toString(16)})`,
    );
  }
  const hp: number[] = [];
  for (let i = 0; i < 11; i++) hp.push(c.i32('hyper-parameters'));
  // whisper.cpp order: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
  // n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
  const dims: WhisperDims = {
    n_vocab: hp[0]!,
    n_audio_ctx: hp[1]!,
    n_audio_state: hp[2]!,
    n_audio_head: hp[3]!,
    n_audio_layer: hp[4]!,
    n_text_ctx: hp[5]!,
    n_text_state: hp[6]!,
    n_text_head: hp[7]!,
    n_text_layer: hp[8]!,
    n_mels: hp[9]!,
  };
  for (const k of DIM_NAMES) {
    if (!(dims[k] > 0 && dims[k] < 1 << 20)) {
      throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `implausible hyper-parameter ${k} = ${dims[k]}`);
    }
  }
  const nMel = c.i32('mel filter count');
  const nFft = c.i32('mel filter width');
  if (nMel !== dims.n_mels || nFft !== 201) {
    throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `mel filters are ${nMel}x${nFft}, expected ${dims.n_mels}x201`);
  }
  const melBytes = c.bytes(nMel * nFft * 4, 'mel filters');
  const melFilters = new Float32Array(nMel * nFft);
  for (let i = 0; i < melFilters.length; i++) melFilters[i] = melBytes.readFloatLE(i * 4);
  const nVocab = c.i32('vocabulary size');
  if (nVocab < 0 || nVocab > dims.n_vocab) {
    throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `vocabulary of ${nVocab} entries for n_vocab ${dims.n_vocab}`);
  }
  const vocab: Uint8Array[] = [];
  for (let i = 0; i < nVocab; i++) {
    const len = c.u32('vocabulary entry length');
    if (len > 1024) throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `vocabulary entry ${i} is ${len} bytes long`);
    vocab.push(new Uint8Array(c.bytes(len, 'vocabulary entry')));
  }
  const tensors = new Map<string, GgmlTensor>();
  while (c.pos < size) {
    const nDims = c.i32('tensor header');
    const nameLen = c.i32('tensor header');
    const typeId = c.i32('tensor header');
    if (nDims < 1 || nDims > 4 || nameLen < 1 || nameLen > 256) {
      throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `corrupt tensor header at offset ${c.pos - 12}`);
    }
    const ne: number[] = [];
    for (let i = 0; i < nDims; i++) ne.push(c.i32('tensor dimensions'));
    const name = c.bytes(nameLen, 'tensor name').toString('utf8');
    const t = GGML_TYPES[typeId];
    if (!t) {
      throw new CheckpointError(
        'ERR_CHECKPOINT_TENSOR_TYPE',
        file,
        `tensor ${name} has ggml type ${typeId}, which is not supported (f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0 are)`,
      );
    }
    const count = ne.reduce((a, b) => a * b, 1);
    if (count % t.blockElems !== 0) {
      throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `tensor ${name}: ${count} elements is not a whole number of ${t.type} blocks`);
    }
    const byteLength = (count / t.blockElems) * t.blockBytes;
    if (c.pos + byteLength > size) {
      throw new CheckpointError(
        'ERR_CHECKPOINT_TRUNCATED',
        file,
        `truncated: tensor ${name} needs ${byteLength} bytes at offset ${c.pos}, but the file has ${size} bytes`,
      );
    }
    // ggml lists dimensions innermost first; PyTorch outermost first. Conv biases are stored [n, 1].
    let shape = ne.slice().reverse();
    if (shape.length === 2 && shape[1] === 1 && name.endsWith('.bias')) shape = [shape[0]!];
    tensors.set(name, { shape, type: t.type, offset: c.pos, byteLength, count });
    c.pos += byteLength;
  }
  checkTensorShapes(file, tensors, expectedTensorShapes(dims));
  let closed = false;
  return {
    file,
    format: 'ggml',
    dims,
    tensors,
    melFilters,
    vocab,
    read(name: string): Float32Array {
      const t = tensors.get(name);
      if (!t) throw new CheckpointError('ERR_CHECKPOINT_MISSING_TENSOR', file, `no tensor named ${name}`);
      const raw = Buffer.allocUnsafe(t.byteLength);
      fs.readSync(fd, raw, 0, t.byteLength, t.offset);
      return decodeGgmlTensor(raw, t.type, t.count);
    },
    close(): void {
      if (!closed) fs.closeSync(fd);
      closed = true;
    },
  };
}

/** Widens or dequantises raw tensor bytes (ggml-quants.c block layouts) to float32. */
export function decodeGgmlTensor(raw: Uint8Array, type: StoredType, count: number): Float32Array {
  if (type === 'f32' || type === 'f16') return widenToFloat32(raw, type, count);
  return dequantize(new DataView(raw.buffer, raw.byteOffset, raw.byteLength), type, count);
}

function dequantize(dv: DataView, type: StoredType, count: number): Float32Array {
  const out = new Float32Array(count);
  const blocks = count / 32;
  const u8 = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  const h = (p: number): number => halfBitsToFloat(dv.getUint16(p, true));
  for (let b = 0; b < blocks; b++) {
    const o = b * 32;
    switch (type) {
      case 'q4_0': {
        const p = b * 18;
        const d = h(p);
        for (let j = 0; j < 16; j++) {
          const q = u8[p + 2 + j]!;
          out[o + j] = ((q & 0x0f) - 8) * d;
          out[o + j + 16] = ((q >> 4) - 8) * d;
        }
        break;
      }
      case 'q4_1': {
        const p = b * 20;
        const d = h(p);
        const m = h(p + 2);
        for (let j = 0; j < 16; j++) {
          const q = u8[p + 4 + j]!;
          out[o + j] = (q & 0x0f) * d + m;
          out[o + j + 16] = (q >> 4) * d + m;
        }
        break;
      }
      case 'q5_0': {
        const p = b * 22;
        const d = h(p);
        const qh = dv.getUint32(p + 2, true);
        for (let j = 0; j < 16; j++) {
          const q = u8[p + 6 + j]!;
          const x0 = ((q & 0x0f) | (((qh >>> j) << 4) & 0x10)) - 16;
          const x1 = ((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
          out[o + j] = x0 * d;
          out[o + j + 16] = x1 * d;
        }
        break;
      }
      case 'q5_1': {
        const p = b * 24;
        const d = h(p);
        const m = h(p + 2);
        const qh = dv.getUint32(p + 4, true);
        for (let j = 0; j < 16; j++) {
          const q = u8[p + 8 + j]!;
          const x0 = (q & 0x0f) | (((qh >>> j) << 4) & 0x10);
          const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
          out[o + j] = x0 * d + m;
          out[o + j + 16] = x1 * d + m;
        }
        break;
      }
      case 'q8_0': {
        const p = b * 34;
        const d = h(p);
        for (let j = 0; j < 32; j++) out[o + j] = dv.getInt8(p + 2 + j) * d;
        break;
      }
      default:
        throw new InternalError(`unreachable ggml type ${type}`);
    }
  }
  return out;
}
