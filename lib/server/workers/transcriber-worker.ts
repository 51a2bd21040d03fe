/**
 * A worker thread of the server (`ServerOptions.workers`): its own ONNX Runtime sessions on the
 * server's compiled model, its own iteration queue, and the whole pipeline of each stream it is
 * given (log-mel, policy, decoding). onnxruntime-node runs a session synchronously on the calling
 * thread, so streams on different threads are the only way two inferences, or one inference and
 * another stream's JavaScript work, run at the same time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Duplex } from 'node:stream';
import { errorInfo, InternalError } from '../../errors.js';
import { openCompiledModel } from '../../model/load-model.js';
import type { Segment } from '../../stream/utf8-carry.js';
import { transcriber } from '../../stream/transcriber.js';
import { SileroVad } from '../../vad/silero-vad.js';
import { Scheduler } from '../scheduler.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-messages.js';

if (!parentPort) throw new InternalError('transcriber-worker: not started as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

interface WorkerStream {
  readonly tr: Duplex;
  realTime: boolean;
}

const pending: ToWorker[] = [];
let handle: ((m: ToWorker) => void) | undefined;
port.on('message', (m: ToWorker) => (handle ? handle(m) : pending.push(m)));

try {
  const model = await openCompiledModel(init.source, { threads: init.threads });
  const vad = init.vadModelPath !== undefined ? await SileroVad.load(init.vadModelPath) : undefined;
  const scheduler = new Scheduler(init.parallelIterations);
  const streams = new Map<number, WorkerStream>();

  const open = (id: number, language: string | undefined): void => {
    const s: { realTime: boolean } = { realTime: true };
    let tr: Duplex;
    try {
      tr = transcriber({
        ...init.options,
        ...(language !== undefined ? { language } : {}),
        model,
        objectMode: true,
        scheduler,
        ...(vad ? { vad } : {}),
        onUpdate: (update) => post({ type: 'update', id, update }),
        ...(init.catchUp ? { catchUp: () => s.realTime } : {}),
      });
    } catch (err) {
      post({ type: 'error', id, error: errorInfo(err) });
      return;
    }
    let over = false;
    tr.on('data', (segment: Segment) => post({ type: 'segment', id, segment }));
    tr.on('end', () => {
      over = true;
      streams.delete(id);
      post({ type: 'end', id });
    });
    tr.on('error', (err) => {
      streams.delete(id);
      if (over) return;
      over = true;
      post({ type: 'error', id, error: errorInfo(err) });
    });
    streams.set(id, Object.assign(s, { tr }));
  };

  handle = (m: ToWorker): void => {
    if (m.type === 'open') return open(m.id, m.language);
    if (m.type === 'close') {
      for (const s of streams.values()) s.tr.destroy();
      streams.clear();
      // a failed release is thrown in this thread: the server's thread logs it as the thread's error
      void Promise.all([model.release(), vad?.release()]).then(() => port.close());
      return;
    }
    const s = streams.get(m.id);
    // a stream already over (its error or end is on its way to the server's thread) takes nothing more
    if (!s) return;
    switch (m.type) {
      case 'audio':
        s.realTime = m.realTime;
        s.tr.write(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), () => post({ type: 'ack', id: m.id }));
        return;
      case 'end':
        s.tr.end();
        return;
      case 'destroy':
        streams.delete(m.id);
        s.tr.destroy();
        return;
      case 'pause':
        s.tr.pause();
        return;
      case 'resume':
        s.tr.resume();
        return;
    }
  };
  post({ type: 'ready' });
  for (const m of pending.splice(0)) handle(m);
} catch (err) {
  post({ type: 'failed', error: errorInfo(err) });
  // the thread ends by itself once nothing is pending (terminating it inside ONNX Runtime can abort the process)
  port.close();
}
