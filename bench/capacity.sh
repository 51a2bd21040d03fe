#!/usr/bin/env bash
# The capacity table (README, "How many calls a machine carries"): `bench:server --find-max` for
# tiny's and small's shapes (random weights), float32 / int8 / int8 + fitted windows + VAC, and one
# iteration at a time against two at once; one run, one machine, results in bench/results-capacity.txt.
#   bench/capacity.sh [--seconds 30]   (any further bench:server flags apply to every run)
#   CAPACITY_ONLY=workers bench/capacity.sh …   only the runs with worker threads (results-capacity-workers.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
out=bench/results-capacity${CAPACITY_ONLY:+-$CAPACITY_ONLY}.txt
{
  echo "# $(date -u +%F) $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), flags: $(grep -o -m1 -w 'avx512_vnni\|amx_int8' /proc/cpuinfo | sort -u | xargs), Node $(node --version)"
  run() {
    echo "## bench:server --find-max $*"
    node --expose-gc dist/bench/server-load.js --find-max "$@" | grep -v '^$'
  }
  if [ "${CAPACITY_ONLY:-}" != workers ]; then
    run --model tiny "$@"
    run --model tiny --parallel 2 "$@"
    run --model tiny --quantize int8 --from 2 "$@"
    run --model tiny --quantize int8 --encoder-window auto --vac --from 4 "$@"
    run --model small "$@"
    run --model small --quantize int8 "$@"
    run --model small --quantize int8 --encoder-window auto --vac "$@"
  fi
  # two worker threads of one ONNX Runtime thread each: two streams' iterations at once
  run --model tiny --workers 2 "$@"
  run --model tiny --quantize int8 --workers 2 --from 2 "$@"
  run --model tiny --quantize int8 --encoder-window auto --vac --workers 2 --from 12 "$@"
  run --model small --quantize int8 --encoder-window auto --vac --workers 2 "$@"
} 2>&1 | tee "$out"
