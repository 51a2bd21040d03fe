#!/bin/sh
# Prints the path of a copy of ONNX Runtime 1.30.0's linux-x64 library whose MLAS skips its
# AVX512-VNNI int8 kernels (keeping AVX512-core's vpmaddubsw ones), for a VNNI-less comparison on
# the same machine:
#   LD_PRELOAD=$(sh bench/ort-without-vnni.sh) node dist/bench/precision.js --models tiny
# MLAS chooses kernels from CPUID when the library loads (onnxruntime/core/mlas/lib/platform.cpp:
# `if ((Cpuid7[2] & 0x800) != 0)` sets GemmU8S8Kernel = MlasGemmU8S8KernelAvx512Vnni); no
# environment variable or session option turns that off. This patches that one conditional jump
# (je at file offset 0x16abf18) into an unconditional one. Any other build is refused.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lib="$here/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
want=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
out="${TMPDIR:-/tmp}/simulstream-ort-novnni/libonnxruntime.so.1"
[ "$(sha256sum "$lib" | cut -d' ' -f1)" = "$want" ] || { echo "not ONNX Runtime 1.30.0 linux-x64: $lib" >&2; exit 1; }
[ "$(od -An -tx1 -j $((0x16abf18)) -N6 "$lib" | tr -d ' \n')" = 0f840dfeffff ] || { echo "unexpected bytes at 0x16abf18" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$lib" "$out"
# jmp rel32 to the same target (0x16abd2b), then a nop
printf '\351\016\376\377\377\220' | dd of="$out" bs=1 seek=$((0x16abf18)) conv=notrunc status=none
echo "$out"
