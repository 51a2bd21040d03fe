import fs from 'node:fs';
import type { Checkpoint, StoredType } from '../../lib/model/checkpoint.js';
import { GGML_MAGIC, GGML_TYPE_IDS } from '../../lib/model/ggml.js';
import { floatToHalfBits } from '../../lib/util/half.js';

/** Quantises float32 values into ggml q8_0 blocks (32 values: f16 scale + 32 int8). */
export function quantizeQ8_0(x: Float32Array): Buffer {
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(floatToHalfBits(d), b * 34);
    for (let j = 0; j < 32; j++) out.writeInt8(Math.round(x[b * 32 + j]! * id), b * 34 + 2 + j);
  }
  return out;
}

/** Quantises float32 values into ggml q4_0 blocks (f16 scale + 16 bytes of nibbles, offset 8). */
export function quantizeQ4_0(x: Float32Array): Buffer {
  const out = Buffer.alloc((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = max / -8;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(floatToHalfBits(d), b * 18);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(x[b * 32 + j]! * id + 8.5));
      const q1 = Math.min(15, Math.trunc(x[b * 32 + 16 + j]! * id + 8.5));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/**
 * Writes a checkpoint as a whisper.cpp ggml file, 2-D (and larger) weights in `type`,
 * the rest f32, as whisper.cpp's converter and quantizer lay them out.
 */
export function writeGgml(ckpt: Checkpoint, file: string, type: 'f32' | 'q8_0' | 'q4_0'): void {
  const d = ckpt.dims;
  const parts: Buffer[] = [];
  const i32 = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((x, i) => b.writeInt32LE(x, i * 4));
    parts.push(b);
  };
  const u32 = Buffer.alloc(4);
  u32.writeUInt32LE(GGML_MAGIC);
  parts.push(Buffer.from(u32));
  i32(d.n_vocab, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer, d.n_text_ctx, d.n_text_state, d.n_text_head, d.n_text_layer, d.n_mels, 1);
  i32(d.n_mels, 201);
  parts.push(Buffer.from(ckpt.melFilters!.buffer, ckpt.melFilters!.byteOffset, ckpt.melFilters!.byteLength));
  i32(ckpt.vocab!.length);
  for (const v of ckpt.vocab!) {
    i32(v.length);
    parts.push(Buffer.from(v));
  }
  for (const [name, info] of ckpt.tensors) {
    const data = ckpt.read(name);
    const quant = info.shape.length >= 2 && !name.includes('positional_embedding') && data.length % 32 === 0;
    const t: StoredType = quant ? type : 'f32';
    let shape = [...info.shape];
    if (name.includes('conv') && name.endsWith('.bias')) shape = [shape[0]!, 1];
    const ne = shape.reverse();
    const nameBytes = Buffer.from(name);
    i32(ne.length, nameBytes.length, GGML_TYPE_IDS[t]!, ...ne);
    parts.push(nameBytes);
    if (t === 'q8_0') parts.push(quantizeQ8_0(data));
    else if (t === 'q4_0') parts.push(quantizeQ4_0(data));
    else parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}
