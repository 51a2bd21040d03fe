import type net from 'node:net';
import { TranscriptStore } from '../bridge/transcript-store.js';
import { isLoopback } from '../http/http-server.js';
import { resolveAlignAttOptions, type AlignAttOptions } from '../decode/align-att-options.js';
import { DEFAULTS } from '../defaults.js';
import { InternalError, InvalidOptionError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import type { OutputFormat } from '../stream/line-encoder.js';
import { transcriber, TRANSCRIBER_OPTION_KEYS } from '../stream/transcriber.js';
import { checkOptionKeys } from '../util/option-keys.js';
import type { Segment } from '../stream/utf8-carry.js';
import type { Chunking } from '../stream/chunk-buffer.js';
import { fanOut } from '../util/fan-out.js';
import type { SileroVad } from '../vad/silero-vad.js';
import type { VadIteratorOptions } from '../vad/vad-iterator.js';
import { THREAD_BOUND_OPTION_KEYS, type WorkerTranscriberOptions } from './workers/worker-messages.js';
import { audioSocketDoor } from './audiosocket/audiosocket-door.js';
import type { CallContext } from './calls/streamed-call.js';
import type { ClientInfo } from './connection.js';
import type { FrontDoor } from './front-door.js';
import { silentLogger, type Logger } from './logger.js';
import type { ServerObserver } from './observer.js';
import { Scheduler } from './scheduler.js';
import { detachedSource, threadsPerWorker, TranscriberPool } from './workers/transcriber-pool.js';
import { StreamRegistry } from './stream-registry.js';
import { tcpDoor } from './tcp-door.js';
import { wsDoor } from './ws/ws-door.js';

export type { ClientInfo } from './connection.js';

/** What {@link createServer} serves and how; the AlignAtt policy's options apply to every stream. */
export interface ServerOptions extends Omit<AlignAttOptions, 'scheduler'> {
  /** The model every stream uses (loaded once with {@link loadModel}), unless `modelFor` picks another. */
  readonly model: LoadedModel;
  /** Default `localhost`. */
  readonly host?: string;
  /** Default 43007; 0 picks a free port. */
  readonly port?: number;
  /** Seconds of audio per policy iteration. Default 1.2. */
  readonly minChunkSize?: number;
  /** Output lines: `text` (`start_ms end_ms text`, default) or `json`. */
  readonly format?: OutputFormat;
  /** Most simultaneous streams: TCP clients and calls of every front door together; more are refused (logged once per busy spell). Default 64. */
  readonly maxConnections?: number;
  /** Seconds without data after which a client's stream is finished and closed (0: never). Default 0. */
  readonly idleTimeout?: number;
  /**
   * Seconds a client may leave its output unread before it is closed (0: never). Its output is
   * held to the socket's buffer meanwhile (its decoding waits). Default 30.
   */
  readonly outputTimeout?: number;
  /** Policy iterations that may run at once (default 1: ONNX Runtime already uses every core); with `workers`, in each thread. */
  readonly parallelIterations?: number;
  /**
   * Worker threads that run the streams (default 0: this thread does). Each has its own ONNX
   * Runtime sessions on the same compiled model (memory per thread), `floor(cores / workers)`
   * intra-op threads unless the model was loaded with `threads`, and takes new streams when it
   * has the fewest. onnxruntime-node runs inference on the calling thread, so this is what lets
   * one stream's inference overlap another's, and the log-mel and policy work. A thread that dies
   * fails its streams alone (`ERR_WORKER`) and is started again. Needs a model from `loadModel`,
   * no `modelFor` and no `clock`.
   */
  readonly workers?: number;
  /**
   * A real-time client (one that never sent more audio than wall-clock time since its first byte,
   * judged as its bytes are read) whose chunks pile up because the machine is overloaded has them
   * decoded as one iteration, so its lag stops growing. Clients that send faster than real time
   * (files) never are: TCP slows them instead, and their output does not depend on timing.
   * Default true.
   */
  readonly catchUp?: boolean;
  /** End of a stream: the final pass decodes what is left (default true; SimulStreaming's server drops it). */
  readonly finalPass?: boolean;
  /** Where chunks end (default `exact`; `simulstreaming`: its file loop, for comparisons with its output). */
  readonly chunking?: Chunking;
  /** Where the server logs connections, refusals and failures (default: silent; see {@link createLogger}). */
  readonly logger?: Logger;
  /** Voice activity control (`--vac`): silence is not decoded, each utterance ends with a final pass. */
  readonly vad?: SileroVad;
  /** With `vad`: its speech threshold and silence and padding lengths (milliseconds); defaults in {@link DEFAULTS}. */
  readonly vadOptions?: VadIteratorOptions;
  /** Where each emitted line is echoed (SimulStreaming prints them on stderr). */
  readonly echo?: NodeJS.WritableStream;
  /** Called with every segment sent to a client (monitoring, storage, benchmarks). */
  readonly onSegment?: (segment: Segment, client: ClientInfo) => void;
  /** Told about connections, audio, iterations, segments and closed streams (metrics, the live page). */
  readonly observers?: readonly ServerObserver[];
  /**
   * The model one connection uses, chosen when it is accepted (default: `model` for all). For
   * routing, and for tests that make one stream's model fail.
   */
  readonly modelFor?: (peer: string) => LoadedModel;
  /**
   * The switches' WebSocket port (0 picks a free one; default: none): `/audio_stream`
   * (mod_audio_stream), `/audio_fork` (mod_audio_fork), `/jambonz` (jambonz's custom speech-to-text).
   */
  readonly wsPort?: number;
  /** Where the WebSocket port listens (default `host`). */
  readonly wsHost?: string;
  /** Every WebSocket call needs it: `Authorization: Bearer TOKEN` or `?token=TOKEN`. */
  readonly wsToken?: string;
  /** Asterisk's AudioSocket port (0 picks a free one; default: none). It has no token: keep it behind a firewall. */
  readonly audioSocketPort?: number;
  /** The rate of AudioSocket's kind 0x11: 12000 (default, Asterisk since PR 1492) or 16000 (one earlier revision). */
  readonly audioSocketKind11Rate?: 12000 | 16000;
  /** Each streamed call's lines (WebSocket, AudioSocket) in `<outDir>/<uuid>.jsonl`, the bridge's transcript schema. */
  readonly outDir?: string;
}

/** Every key of {@link ServerOptions}, at run time. */
export const SERVER_OPTION_KEYS = [
  ...TRANSCRIBER_OPTION_KEYS.filter((k) => k !== 'objectMode' && k !== 'catchUp' && k !== 'onUpdate' && k !== 'scheduler'),
  'host', 'port', 'format', 'maxConnections', 'idleTimeout', 'outputTimeout', 'parallelIterations', 'workers', 'catchUp', 'logger', 'echo', 'onSegment', 'observers', 'modelFor',
  'wsPort', 'wsHost', 'wsToken', 'audioSocketPort', 'audioSocketKind11Rate', 'outDir',
] as const satisfies readonly (keyof ServerOptions)[];

/** Where each front door listens: SimulStreaming's TCP port (the object itself, as before), and the switches' when they are on. */
export interface ServerAddresses extends net.AddressInfo {
  readonly tcp: net.AddressInfo;
  readonly ws?: net.AddressInfo;
  readonly audioSocket?: net.AddressInfo;
}

/** A server made by {@link createServer}: nothing listens until {@link SimulstreamServer.listen}. */
export interface SimulstreamServer {
  /** Starts every listener; resolves with their addresses (the TCP one's fields at the top level). */
  listen(): Promise<ServerAddresses>;
  /**
   * Stops accepting (readiness goes false), lets open streams go on until their clients end them
   * or `drainTimeout` seconds pass (default 0: at once), then finishes the rest (final pass,
   * remaining lines) and closes.
   */
  close(options?: { readonly drainTimeout?: number }): Promise<void>;
  /** True from the first `close()` on: draining or closed. */
  readonly closing: boolean;
  /** Streams open now: TCP clients and calls of every front door. */
  readonly connections: number;
  /** The queue every stream's policy iterations wait in (`parallelIterations` run at once); with `workers`, each thread has its own and this one stays empty. */
  readonly scheduler: Scheduler;
}

/**
 * One model for many streams, through several front doors sharing one `StreamRegistry`
 * (capacity, refusals, drain, observers): SimulStreaming's TCP protocol (each connection its own
 * pipeline, see `serveConnection`), and when asked the switches' WebSocket port (mod_audio_stream,
 * mod_audio_fork, jambonz) and Asterisk's AudioSocket. Whatever fails in one stream ends that
 * stream alone. The options are checked here, before anything listens.
 */
export function createServer(options: ServerOptions): SimulstreamServer {
  checkOptionKeys<Exclude<keyof ServerOptions, (typeof SERVER_OPTION_KEYS)[number] | (typeof TRANSCRIBER_OPTION_KEYS)[number]>>(options, SERVER_OPTION_KEYS, 'createServer');
  const log = options.logger ?? silentLogger;
  const host = options.host ?? DEFAULTS.host;
  const port = options.port ?? DEFAULTS.port;
  const format = options.format ?? 'text';
  const maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
  const minChunkSize = options.minChunkSize ?? DEFAULTS.minChunkSize;
  validate(options, maxConnections, minChunkSize);
  const scheduler = new Scheduler(options.parallelIterations ?? DEFAULTS.parallelIterations);
  const observe = fanOut(options.observers ?? [], log);
  const registry = new StreamRegistry({ maxConnections, log, observe });
  const store = options.outDir !== undefined ? new TranscriptStore(options.outDir) : undefined;
  const {
    catchUp, model, modelFor, observers: _o, onSegment, echo, logger: _l, host: _h, port: _p, format: _f, maxConnections: _m, idleTimeout, outputTimeout, parallelIterations: _pi,
    wsPort, wsHost, wsToken, audioSocketPort, audioSocketKind11Rate, outDir: _od, workers,
    ...policy
  } = options;
  // the threads start with listen(): a server that never listens holds none
  let pool: TranscriberPool | undefined;
  const ctx: CallContext = {
    log,
    format,
    vac: !!options.vad,
    outputTimeoutMs: (outputTimeout ?? DEFAULTS.outputTimeout) * 1000,
    idleTimeoutMs: (idleTimeout ?? DEFAULTS.idleTimeout) * 1000,
    minChunkSize,
    observe,
    ...(onSegment ? { onSegment } : {}),
    ...(echo ? { echo } : {}),
    ...(store ? { store } : {}),
    transcriber: (peer, hooks, language) => {
      const m = modelFor ? modelFor(peer) : model;
      // a call's own language (a jambonz start) is checked as the server's was
      if (language !== undefined) resolveAlignAttOptions(m, { ...policy, language });
      if (workers) {
        if (!pool) throw new InternalError('a stream before listen() started the worker threads');
        return pool.open(hooks, language);
      }
      return transcriber({
        ...policy,
        ...(language !== undefined ? { language } : {}),
        model: m,
        objectMode: true,
        scheduler,
        onUpdate: hooks.onUpdate,
        ...((catchUp ?? DEFAULTS.catchUp) ? { catchUp: hooks.realTime } : {}),
      });
    },
  };

  const doors: { readonly name: 'tcp' | 'ws' | 'audioSocket'; readonly door: FrontDoor }[] = [
    { name: 'tcp', door: tcpDoor({ host, port, flag: '--port', label: 'Listening on' }, ctx, registry) },
  ];
  if (wsPort !== undefined) {
    doors.push({
      name: 'ws',
      door: wsDoor({ host: wsHost ?? host, port: wsPort, flag: '--ws-port', label: 'WebSocket calls (/audio_stream, /audio_fork, /jambonz) on' }, ctx, registry, {
        ...(wsToken !== undefined ? { token: wsToken } : {}),
        language: options.language ?? DEFAULTS.language,
      }),
    });
    if (wsToken === undefined && !isLoopback(wsHost ?? host)) log.warning(`WebSocket calls on ${wsHost ?? host} without --ws-token: anyone who reaches the port can stream to the model`);
  }
  if (audioSocketPort !== undefined) {
    doors.push({
      name: 'audioSocket',
      door: audioSocketDoor({ host, port: audioSocketPort, flag: '--audiosocket-port', label: 'AudioSocket calls on' }, ctx, registry, audioSocketKind11Rate ? { kind11Rate: audioSocketKind11Rate } : {}),
    });
  }

  return {
    scheduler,
    get connections() {
      return registry.open;
    },
    get closing() {
      return registry.closing;
    },
    async listen() {
      const bound: Partial<Record<'tcp' | 'ws' | 'audioSocket', net.AddressInfo>> = {};
      // every worker thread has the model before anything listens (a failed load fails listen())
      if (workers && !pool) {
        const p = workerPool(options, workers, log);
        await p.ready().catch(async (err: unknown) => {
          await p.close();
          throw err;
        });
        pool = p;
      }
      try {
        for (const d of doors) bound[d.name] = await d.door.listen();
      } catch (err) {
        await Promise.all(doors.map((d) => d.door.stop()));
        throw err;
      }
      return { ...bound.tcp!, tcp: bound.tcp!, ...(bound.ws ? { ws: bound.ws } : {}), ...(bound.audioSocket ? { audioSocket: bound.audioSocket } : {}) };
    },
    close: async ({ drainTimeout = 0 } = {}) => {
      if (!(drainTimeout >= 0)) throw new InvalidOptionError('drainTimeout', `must be a number of seconds ≥ 0, got ${drainTimeout}`);
      // a listener's close completes once its last socket is gone: awaited after the streams end
      const stopped = doors.map((d) => d.door.stop());
      await registry.close(drainTimeout);
      for (const d of doors) d.door.destroySockets();
      await Promise.all(stopped);
      await pool?.close();
      log.info('Connection closed, terminating.');
    },
  };
}

/** Everything that can fail per connection is checked once, here: nothing is accepted first and failed later. */
function validate(options: ServerOptions, maxConnections: number, minChunkSize: number): void {
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new InvalidOptionError('--max-connections', `must be a positive integer, got ${maxConnections}`);
  if (!(minChunkSize > 0)) throw new InvalidOptionError('--min-chunk-size', `must be a positive number of seconds, got ${minChunkSize}`);
  if (minChunkSize >= (options.audioMaxLen ?? DEFAULTS.audioMaxLen)) throw new InvalidOptionError('--min-chunk-size', 'min_chunk_size must be smaller than audio_max_len');
  for (const [flag, p] of [['--ws-port', options.wsPort], ['--audiosocket-port', options.audioSocketPort]] as const) {
    if (p !== undefined && (!Number.isInteger(p) || p < 0 || p > 65535)) throw new InvalidOptionError(flag, `must be a port number 0-65535, got ${p}`);
  }
  if (options.workers !== undefined) {
    if (!Number.isInteger(options.workers) || options.workers < 0 || options.workers > 64) throw new InvalidOptionError('--workers', `must be an integer 0-64, got ${options.workers}`);
    if (options.workers > 0) {
      if (!options.model.source) throw new InvalidOptionError('--workers', 'the model was not loaded by loadModel(): a worker thread cannot open it');
      if (options.modelFor) throw new InvalidOptionError('--workers', 'modelFor picks a model per stream in this thread: it cannot be combined with worker threads');
      if (options.clock) throw new InvalidOptionError('--workers', 'a clock is a function of this thread: worker threads use performance.now');
    }
  }
  if (options.wsToken !== undefined && options.wsToken === '') throw new InvalidOptionError('--ws-token', 'must not be empty');
  if (options.audioSocketKind11Rate !== undefined && options.audioSocketKind11Rate !== 12000 && options.audioSocketKind11Rate !== 16000) {
    throw new InvalidOptionError('--audiosocket-0x11-rate', `must be 12000 or 16000, got ${String(options.audioSocketKind11Rate)}`);
  }
  // language, task and lengths against the model: the policy's own resolver
  resolveAlignAttOptions(options.model, options);
}

/**
 * The worker threads of `workers` (validated): the server's policy, as data, in each. `workerFile`
 * replaces the threads' script (the tests' crashing one).
 */
export function workerPool(options: ServerOptions, workers: number, log: Logger, workerFile?: URL): TranscriberPool {
  const source = options.model.source!;
  return new TranscriberPool(
    {
      source: detachedSource(source),
      threads: threadsPerWorker(workers, source.threads),
      ...(options.vad ? { vadModelPath: options.vad.modelPath } : {}),
      options: pick(options, WORKER_OPTION_KEYS),
      catchUp: options.catchUp ?? DEFAULTS.catchUp,
      parallelIterations: options.parallelIterations ?? DEFAULTS.parallelIterations,
    },
    workers,
    log,
    workerFile,
  );
}

/** The transcriber options a worker thread takes (data only). */
const WORKER_OPTION_KEYS = TRANSCRIBER_OPTION_KEYS.filter(
  (k): k is (typeof TRANSCRIBER_OPTION_KEYS)[number] & keyof WorkerTranscriberOptions => !(THREAD_BOUND_OPTION_KEYS as readonly string[]).includes(k),
);

function pick<K extends keyof ServerOptions & keyof WorkerTranscriberOptions>(o: ServerOptions, keys: readonly K[]): WorkerTranscriberOptions {
  const out: Partial<Record<K, unknown>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as WorkerTranscriberOptions;
}
