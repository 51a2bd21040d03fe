/** IEEE 754 half-precision conversion (Node 20 has no Float16Array). */

let table: Float32Array | undefined;

function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  table = t;
  return t;
}

/** Converts `count` little-endian f16 values starting at `byteOffset` of `bytes`. */
export function halfToFloat(bytes: Uint8Array, byteOffset = 0, count = (bytes.length - byteOffset) >> 1): Float32Array {
  const t = halfTable();
  const out = new Float32Array(count);
  for (let i = 0, p = byteOffset; i < count; i++, p += 2) {
    out[i] = t[bytes[p]! | (bytes[p + 1]! << 8)]!;
  }
  return out;
}

/** One f16 value from its 16-bit pattern. */
export function halfBitsToFloat(bits: number): number {
  return halfTable()[bits & 0xffff]!;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds a float to the nearest f16 (ties to even) and returns its bit pattern. */
export function floatToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
