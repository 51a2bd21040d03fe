// A Node client for `simulstream serve` (and SimulStreaming's server): send raw s16le 16 kHz mono,
// half-close, print the "start_ms end_ms text" lines as they arrive, until the server closes.
//
//   node examples/client.mjs call.raw [host] [port]
//   ffmpeg -i call.mp3 -f s16le -ar 16000 -ac 1 - | node examples/client.mjs - localhost 43007
import fs from 'node:fs';
import net from 'node:net';

const [file, host = 'localhost', port = '43007'] = process.argv.slice(2);
const audio = file === '-' ? process.stdin : fs.createReadStream(file);
const socket = net.connect({ host, port: Number(port), allowHalfOpen: true });
socket.on('connect', () => audio.pipe(socket)); // ends (half-closes) the socket after the last byte: the server's final pass
socket.pipe(process.stdout);
socket.on('end', () => socket.end());
socket.on('error', (err) => {
  console.error(`client: ${err.message}`);
  process.exitCode = 1;
});
