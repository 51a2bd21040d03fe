import { halfToFloat } from '../util/half.js';
import type { StoredType } from './checkpoint.js';
import { InternalError } from '../errors.js';

/** Widens `count` little-endian f32, f16, bf16 or f64 values to float32 (both readers use it). */
export function widenToFloat32(raw: Uint8Array, type: StoredType, count: number): Float32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(count);
  switch (type) {
    case 'f32':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    case 'f16':
      return halfToFloat(raw, 0, count);
    case 'bf16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u[i] = dv.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'f64':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    default:
      throw new InternalError(`${type} is a block format, not a plain float type`);
  }
}
