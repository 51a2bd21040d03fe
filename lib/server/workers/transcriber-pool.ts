import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Duplex } from 'node:stream';
import { SimulstreamError } from '../../errors.js';
import type { ModelSource } from '../../model/load-model.js';
import type { StreamHooks } from '../connection.js';
import type { Logger } from '../logger.js';
import { RemoteTranscriber, type WorkerPort } from './remote-transcriber.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-messages.js';

const WORKER_FILE = new URL('./transcriber-worker.js', import.meta.url);

/**
 * A copy of the source that structured cloning keeps small: a ggml checkpoint's vocabulary and
 * filters can be views into the whole file's buffer, which cloning a view would copy entirely.
 */
export function detachedSource(source: ModelSource): ModelSource {
  return {
    ...source,
    ...(source.vocab ? { vocab: source.vocab.map((v) => v.slice()) } : {}),
    melFilters: source.melFilters.slice(),
  };
}

/** Intra-op threads of each worker's sessions: `threads` when given (not 0), else the cores shared out. */
export function threadsPerWorker(workers: number, threads = 0, cores = os.availableParallelism()): number {
  return threads || Math.max(1, Math.floor(cores / workers));
}

/** One worker thread and the streams it runs. */
class WorkerSlot implements WorkerPort {
  readonly streams = new Map<number, RemoteTranscriber>();
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private loaded = false;
  private exited = false;
  private stopping = false;

  constructor(init: WorkerInit, file: URL, private readonly onExit: (slot: WorkerSlot, why: string, closing: boolean) => void) {
    this.worker = new Worker(file, { workerData: init });
    let lastError = '';
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          this.loaded = true;
          return resolve();
        }
        if (m.type === 'failed') {
          lastError = m.error.message;
          return reject(new SimulstreamError('ERR_WORKER', `a worker thread could not load the model: ${m.error.message}`));
        }
        this.route(m);
      });
      this.worker.on('error', (err) => {
        lastError = err.message;
        if (!this.loaded) reject(new SimulstreamError('ERR_WORKER', `a worker thread failed to start: ${err.message}`, { cause: err }));
      });
    });
    // a failed start is the ready promise's to report; a later exit fails the slot's streams
    this.ready.catch(() => undefined);
    this.worker.on('exit', (exitCode) => {
      this.exited = true;
      const why = lastError || `it exited with code ${exitCode}`;
      for (const s of [...this.streams.values()]) s.failed({ code: 'ERR_WORKER', message: `the worker thread running this stream stopped: ${why}` });
      this.streams.clear();
      // one that never loaded is not started again (its failure would repeat): ready() reported it;
      // one asked to close is reported only if it failed doing so (releasing its sessions)
      if (this.stopping ? lastError !== '' : this.loaded) this.onExit(this, why, this.stopping);
    });
  }

  get live(): boolean {
    return this.loaded && !this.stopping;
  }

  post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(message, transfer);
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  open(id: number, hooks: StreamHooks, language: string | undefined): RemoteTranscriber {
    const tr = new RemoteTranscriber(this, id, hooks);
    this.streams.set(id, tr);
    this.post({ type: 'open', id, ...(language !== undefined ? { language } : {}) });
    return tr;
  }

  /** Asks the thread to release its sessions and exit; terminates it if it has not within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.post({ type: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), graceMs);
    await gone;
    clearTimeout(timer);
  }

  private route(m: Exclude<FromWorker, { type: 'ready' | 'failed' }>): void {
    const s = this.streams.get(m.id);
    if (!s) return;
    switch (m.type) {
      case 'ack':
        return s.acked();
      case 'segment':
        return s.segment(m.segment);
      case 'update':
        return s.update(m.update);
      case 'end':
        return s.ended();
      case 'error':
        return s.failed(m.error);
    }
  }
}

/**
 * `workers` threads, each with its own sessions on the server's compiled model, sharing the
 * streams: a new stream goes to the thread with the fewest. A thread that dies fails its own
 * streams (`ERR_WORKER`) and is started again for the next ones; the others go on.
 */
export class TranscriberPool {
  private readonly slots: WorkerSlot[];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly init: WorkerInit,
    count: number,
    private readonly log: Logger,
    private readonly workerFile: URL = WORKER_FILE,
  ) {
    this.slots = Array.from({ length: count }, () => this.spawn());
  }

  /** Resolves once every thread has loaded the model (rejects with the first that could not). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /** A stream on the least busy live thread. */
  open(hooks: StreamHooks, language?: string): Duplex {
    const live = this.slots.filter((s) => s.live);
    if (live.length === 0) throw new SimulstreamError('ERR_WORKER', 'no worker thread is running the model');
    const slot = live.reduce((a, b) => (b.streams.size < a.streams.size ? b : a));
    return slot.open(this.nextId++, hooks, language);
  }

  /** Threads that have the model and take streams now. */
  get liveThreads(): number {
    return this.slots.filter((s) => s.live).length;
  }

  /** Streams each thread runs now. */
  get load(): readonly number[] {
    return this.slots.map((s) => s.streams.size);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.stop()));
  }

  private spawn(): WorkerSlot {
    return new WorkerSlot(this.init, this.workerFile, (dead, why, closing) => {
      if (closing) return this.log.warning(`A worker thread failed while closing: ${why}`);
      const i = this.slots.indexOf(dead);
      if (this.closed || i < 0) return;
      this.log.error(`A worker thread stopped (${why}): its streams failed; starting another`);
      const fresh = this.spawn();
      this.slots[i] = fresh;
      fresh.ready.catch((err: Error) => this.log.error(err.message));
    });
  }
}
