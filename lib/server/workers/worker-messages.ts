import type { ErrorInfo } from '../../errors.js';
import type { ModelSource } from '../../model/load-model.js';
import type { EmittedUpdate } from '../../stream/align-att-decoder.js';
import type { TranscriberOptions } from '../../stream/transcriber.js';
import type { Segment } from '../../stream/utf8-carry.js';

/** The transcriber options a worker thread is not given: objects and functions of the server's thread (it makes its own). */
export const THREAD_BOUND_OPTION_KEYS = ['model', 'vad', 'catchUp', 'onUpdate', 'objectMode', 'scheduler', 'clock'] as const;

/** The transcriber options a worker thread can be given: the data ones (no model, detector, clock or callbacks). */
export type WorkerTranscriberOptions = Omit<TranscriberOptions, (typeof THREAD_BOUND_OPTION_KEYS)[number]>;

/** A worker thread's `workerData`: everything it needs to run streams like the server's own thread. */
export interface WorkerInit {
  readonly source: ModelSource;
  /** ONNX Runtime intra-op threads of its sessions. */
  readonly threads: number;
  /** Silero VAD's ONNX file, with voice activity control. */
  readonly vadModelPath?: string;
  readonly options: WorkerTranscriberOptions;
  /** Real-time clients whose chunks pile up are caught up (see `ServerOptions.catchUp`). */
  readonly catchUp: boolean;
  /** Policy iterations it runs at once. */
  readonly parallelIterations: number;
}

/** From the server's thread to a worker, per stream `id`. */
export type ToWorker =
  | { readonly type: 'open'; readonly id: number; readonly language?: string }
  | { readonly type: 'audio'; readonly id: number; readonly data: Uint8Array; readonly realTime: boolean }
  | { readonly type: 'end'; readonly id: number }
  | { readonly type: 'destroy'; readonly id: number }
  | { readonly type: 'pause'; readonly id: number }
  | { readonly type: 'resume'; readonly id: number }
  /** Release the sessions and exit (terminating a thread inside ONNX Runtime can abort the process). */
  | { readonly type: 'close' };

/** From a worker to the server's thread. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly error: ErrorInfo }
  /** The stream's last audio message was taken (its write callback: backpressure). */
  | { readonly type: 'ack'; readonly id: number }
  | { readonly type: 'segment'; readonly id: number; readonly segment: Segment }
  | { readonly type: 'update'; readonly id: number; readonly update: EmittedUpdate }
  | { readonly type: 'end'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly error: ErrorInfo };
