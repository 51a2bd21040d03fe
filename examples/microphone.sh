#!/usr/bin/env bash
# Live captions from the microphone (ALSA): arecord's raw 16 kHz mono samples, streamed to a
# running `simulstream serve`; lines appear while you speak. Ctrl-C stops arecord, and the server
# decodes the tail before it closes.
#   examples/microphone.sh [host] [port]
# or without a server (the model loads in this process):
#   arecord -q -f S16_LE -r 16000 -c 1 -t raw | npx simulstream transcribe - --model small --language fr
set -euo pipefail
arecord -q -f S16_LE -r 16000 -c 1 -t raw | nc -N "${1:-localhost}" "${2:-43007}"
