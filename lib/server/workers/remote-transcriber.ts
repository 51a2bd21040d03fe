import { Duplex } from 'node:stream';
import { ErrorCodes, SimulstreamError, type ErrorCode, type ErrorInfo } from '../../errors.js';
import type { EmittedUpdate } from '../../stream/align-att-decoder.js';
import type { Segment } from '../../stream/utf8-carry.js';
import type { StreamHooks } from '../connection.js';
import type { ToWorker } from './worker-messages.js';

/** How a remote transcriber reaches its worker. */
export interface WorkerPort {
  post(message: ToWorker, transfer?: ArrayBuffer[]): void;
  /** The stream is over on this side: the worker's messages for it are no longer routed. */
  forget(id: number): void;
}

/**
 * The server thread's side of a stream that runs in a worker thread: the same Duplex as a local
 * transcriber (s16le bytes in, segments out). Backpressure crosses the thread both ways: a write
 * completes when the worker's pipeline took it, and a full readable side pauses the worker's.
 */
export class RemoteTranscriber extends Duplex {
  private pendingWrite: ((err?: Error | null) => void) | undefined;
  private paused = false;
  private over = false;

  constructor(
    private readonly port: WorkerPort,
    readonly id: number,
    private readonly hooks: StreamHooks,
  ) {
    super({ writableObjectMode: false, readableObjectMode: true });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pendingWrite = done;
    // a copy of the chunk's bytes alone (a socket's chunk is a view into a larger buffer), moved, not cloned
    const data = new Uint8Array(chunk);
    this.port.post({ type: 'audio', id: this.id, data, realTime: this.hooks.realTime() }, [data.buffer]);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.port.post({ type: 'end', id: this.id });
    done();
  }

  override _read(): void {
    if (!this.paused) return;
    this.paused = false;
    this.port.post({ type: 'resume', id: this.id });
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.over) {
      this.over = true;
      this.port.post({ type: 'destroy', id: this.id });
      this.port.forget(this.id);
    }
    done(err);
  }

  /** The worker took the last write. */
  acked(): void {
    const done = this.pendingWrite;
    this.pendingWrite = undefined;
    done?.();
  }

  segment(s: Segment): void {
    if (!this.push(s) && !this.paused) {
      this.paused = true;
      this.port.post({ type: 'pause', id: this.id });
    }
  }

  update(u: EmittedUpdate): void {
    this.hooks.onUpdate(u);
  }

  ended(): void {
    this.settle();
    this.push(null);
  }

  failed(e: ErrorInfo): void {
    this.settle();
    // the worker's error, with its code, as if the stream had failed on this thread
    this.destroy(new SimulstreamError(e.code in ErrorCodes ? (e.code as ErrorCode) : 'ERR_INTERNAL', e.message));
  }

  private settle(): void {
    this.over = true;
    this.port.forget(this.id);
  }
}
