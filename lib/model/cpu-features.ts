import fs from 'node:fs';

/**
 * Bits of magnitude the int8 weights may use on this CPU: 8 (|w| ≤ 127) where ONNX Runtime's
 * integer kernels cannot saturate (x86 with AVX512-VNNI or AVX-VNNI, whose `vpdpbusd` adds into
 * 32 bits; ARM's dot-product kernels), else 7 (|w| ≤ 63, ONNX Runtime's `reduce_range`): without
 * VNNI, MLAS multiplies uint8 activations by int8 weights with `vpmaddubsw`, which saturates the
 * sum of two products at 32767, and 255 × 63 × 2 < 32767. An x86 CPU whose flags cannot be read
 * (no `/proc/cpuinfo`) gets 7.
 */
export function int8WeightBitsForThisCpu(arch: string = process.arch, cpuinfo: () => string = readCpuinfo): 7 | 8 {
  if (arch !== 'x64' && arch !== 'ia32') return 8;
  let flags: string;
  try {
    flags = cpuinfo();
  } catch {
    return 7; // not Linux: the flags are unknown, the safe choice
  }
  return /\b(avx512_vnni|avx_vnni)\b/.test(flags) ? 8 : 7;
}

function readCpuinfo(): string {
  return fs.readFileSync('/proc/cpuinfo', 'utf8');
}
