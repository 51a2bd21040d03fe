// The server's own worker thread, with one way to kill it for the tests: a stream whose audio
// starts with the bytes "CRASH" makes the thread throw an uncaught error (as a bug would).
import { parentPort } from 'node:worker_threads';
import '../../lib/server/workers/transcriber-worker.js';

parentPort!.on('message', (m: { type: string; data?: Uint8Array }) => {
  if (m.type !== 'audio' || !m.data || m.data.byteLength < 5) return;
  if (Buffer.from(m.data.buffer, m.data.byteOffset, 5).toString('latin1') !== 'CRASH') return;
  setImmediate(() => {
    throw new Error('the test crashed this thread');
  });
});
