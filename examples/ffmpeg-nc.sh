#!/usr/bin/env bash
# Any file ffmpeg reads, streamed to a running `simulstream serve` with netcat:
#   examples/ffmpeg-nc.sh call.mp3 [host] [port]
# which is
#   ffmpeg -i call.mp3 -f s16le -ar 16000 -ac 1 - | nc localhost 43007
# -N (OpenBSD netcat, Debian's netcat-openbsd) half-closes the connection at the end of the audio,
# so the server decodes the tail and closes; with netcat-traditional use -q 1 instead.
set -euo pipefail
ffmpeg -nostdin -loglevel error -i "$1" -f s16le -ar 16000 -ac 1 - | nc -N "${2:-localhost}" "${3:-43007}"
