#!/usr/bin/env bash
# Two servers and HAProxy in front, on this machine:
#   examples/haproxy/run.sh --model small --language fr
# then send calls to 127.0.0.1:43007 (examples/ffmpeg-nc.sh call.mp3 127.0.0.1 43007). The
# arguments are passed to each `simulstream serve`. Ctrl-C (or SIGTERM) stops all three: the servers
# drain their open calls first. Ports: SIMULSTREAM_BIND_PORT, S1_PORT, S1_METRICS, S2_PORT, S2_METRICS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
simulstream="${SIMULSTREAM:-npx simulstream}"
export SIMULSTREAM_BIND_PORT="${SIMULSTREAM_BIND_PORT:-43007}"
export S1_PORT="${S1_PORT:-43101}" S1_METRICS="${S1_METRICS:-9101}" S2_PORT="${S2_PORT:-43102}" S2_METRICS="${S2_METRICS:-9102}"
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
$simulstream serve --host 127.0.0.1 --port "$S1_PORT" --metrics-port "$S1_METRICS" --log-level INFO "$@" &
pids+=($!)
$simulstream serve --host 127.0.0.1 --port "$S2_PORT" --metrics-port "$S2_METRICS" --log-level INFO "$@" &
pids+=($!)
haproxy -f "$here/haproxy.cfg" &
pids+=($!)
wait -n
