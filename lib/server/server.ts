import net from 'node:net';
import { pipeline } from 'node:stream';
import { AlignAttSession, type AlignAttOptions, type AlignAttUpdate } from '../decode/align-att.js';
import { DEFAULTS } from '../defaults.js';
import { InvalidOptionError, SimulstreamError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import { encodeError, LineEncoder, type OutputFormat, type StreamFailure } from '../stream/line-encoder.js';
import { transcriber } from '../stream/transcriber.js';
import type { Segment } from '../stream/utf8-carry.js';
import type { Chunking } from '../stream/chunk-buffer.js';
import type { SileroVad } from '../vad/silero-vad.js';
import type { VadIteratorOptions } from '../vad/vad-iterator.js';
import { ArrivalClock } from './arrival-clock.js';
import { ErrorBoundary } from './error-boundary.js';
import { silentLogger, withContext, type Logger } from './logger.js';
import type { ServerObserver } from './observer.js';
import { OutputWatch } from './output-watch.js';
import { Scheduler } from './scheduler.js';
import { SenderPace } from './sender-pace.js';

export interface ServerOptions extends Omit<AlignAttOptions, 'scheduler'> {
  readonly model: LoadedModel;
  /** Default `localhost`. */
  readonly host?: string;
  /** Default 43007; 0 picks a free port. */
  readonly port?: number;
  /** Seconds of audio per policy iteration. Default 1.2. */
  readonly minChunkSize?: number;
  /** Output lines: `text` (`start_ms end_ms text`, default) or `json`. */
  readonly format?: OutputFormat;
  /** Most simultaneous clients; more are refused (logged once per busy spell). Default 64. */
  readonly maxConnections?: number;
  /** Seconds without data after which a client's stream is finished and closed (0: never). Default 0. */
  readonly idleTimeout?: number;
  /**
   * Seconds a client may leave its output unread before it is closed (0: never). Its output is
   * held to the socket's buffer meanwhile (its decoding waits). Default 30.
   */
  readonly outputTimeout?: number;
  /** Policy iterations that may run at once (default 1: ONNX Runtime already uses every core). */
  readonly parallelIterations?: number;
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
  readonly logger?: Logger;
  /** Voice activity control (`--vac`): silence is not decoded, each utterance ends with a final pass. */
  readonly vad?: SileroVad;
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
}

/** What {@link ServerOptions.onSegment} knows of the client. */
export interface ClientInfo {
  /** `('127.0.0.1', 54321)`, as the log lines print it. */
  readonly peer: string;
  /** When (`performance.now()`) the stream's audio up to `seconds` had arrived; NaN before it has. */
  receivedAt(seconds: number): number;
}

export interface SimulstreamServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<net.AddressInfo>;
  /** Stops accepting, finishes every open stream (final pass, remaining lines), closes. */
  close(): Promise<void>;
  /** Clients whose stream is open now. */
  readonly connections: number;
  readonly scheduler: Scheduler;
}

interface Client {
  readonly socket: net.Socket;
  /** Resolves once the stream is over (its output flushed, or the client gone). */
  readonly done: Promise<void>;
  /** Ends the client's audio: final pass, remaining lines, close. */
  readonly finish: () => void;
}

/** Seconds a client may keep its side open after our last line. */
const LINGER_MS = 2000;
/** Most output bytes queued for one client beyond what backpressure allows. */
const MAX_OUTPUT_BYTES = 1 << 20;

/**
 * SimulStreaming's TCP server protocol, for many clients at once over one model. Each connection is
 * `pipeline(socket, transcriber, encoder, socket)` behind an error boundary: whatever fails in one
 * stream ends that connection alone, with a logged error (and an `{"error": …}` line for JSON
 * clients). The policy options are checked here, before anything listens.
 */
export function createServer(options: ServerOptions): SimulstreamServer {
  const log = options.logger ?? silentLogger;
  const host = options.host ?? DEFAULTS.host;
  const port = options.port ?? DEFAULTS.port;
  const format = options.format ?? 'text';
  const maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
  const outputTimeoutMs = (options.outputTimeout ?? DEFAULTS.outputTimeout) * 1000;
  const minChunkSize = options.minChunkSize ?? DEFAULTS.minChunkSize;
  validate(options, maxConnections, minChunkSize);
  const scheduler = new Scheduler(options.parallelIterations ?? DEFAULTS.parallelIterations);
  const clients = new Set<Client>();
  const sockets = new Set<net.Socket>();
  const observe = observerCaller(options.observers ?? [], log);
  const refusals = new RefusalLog(log, maxConnections);
  let closing = false;

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', (err) => log.debug(`Client socket: ${err.message}`));
    const peer = `('${socket.remoteAddress}', ${socket.remotePort})`;
    try {
      if (closing || clients.size >= maxConnections) {
        refuse(socket, peer, closing ? 'closing' : 'capacity');
        return;
      }
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      clients.add(serve(socket, peer));
      observe('connectionAccepted', peer);
    } catch (err) {
      // a failure while setting a connection up is that connection's alone
      log.error(`Client ${peer}: ${(err as Error).message}`);
      socket.destroy();
    }
  });

  function refuse(socket: net.Socket, peer: string, reason: 'capacity' | 'closing'): void {
    refusals.refused(peer, reason);
    observe('connectionRefused', peer, reason);
    const why = reason === 'closing' ? 'the server is shutting down' : `the server is at its limit of ${maxConnections} connections`;
    socket.resume(); // read and drop what it sends, so that closing does not reset it
    if (format === 'json') socket.end(encodeError('ERR_SERVER_BUSY', `${why}; try again later`));
    else socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  function serve(socket: net.Socket, peer: string): Client {
    const log = withContext(options.logger ?? silentLogger, { client: peer });
    log.info(`Connected to client on ${peer}`);
    const opened = performance.now();
    const pace = new SenderPace();
    const arrivals = new ArrivalClock();
    const info: ClientInfo = { peer, receivedAt: (s) => arrivals.at(s) };
    const { catchUp, model, modelFor, observers: _o, onSegment: _s, ...policy } = options;
    const tr = transcriber({
      ...policy,
      model: modelFor ? modelFor(peer) : model,
      objectMode: true,
      scheduler: observedScheduler(scheduler, (u, queueMs) => observe('iteration', peer, u, queueMs)),
      ...(catchUp !== false ? { catchUp: () => pace.realTime } : {}),
    });
    let failure: StreamFailure | undefined;
    let over = false;
    const boundary = new ErrorBoundary(tr, (f) => {
      failure = f;
      log.error(`Client ${peer}: ${f.error.message}`);
    });
    const encoder = new LineEncoder({
      format,
      vac: !!options.vad,
      emissionTime: () => (performance.now() - opened) / 1000,
      onLine: (line, seg) => {
        if (options.onSegment) guard(() => options.onSegment!(seg, info), 'onSegment');
        if (line === '') return;
        if (options.observers?.some((o) => o.segment)) observe('segment', peer, seg, lagOf(seg, arrivals, minChunkSize));
        if (options.echo) guard(() => options.echo!.write(line), 'echo');
      },
    });
    const watch = new OutputWatch(socket, outputTimeoutMs, MAX_OUTPUT_BYTES, (reason) => {
      failure ??= { error: { code: 'ERR_OUTPUT_STALLED', message: reason } };
      log.warning(`Client ${peer}: ${reason}: closing it`);
      socket.destroy();
    });

    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const client: Client = { socket, done, finish: () => boundary.finish() };
    const end = (): void => {
      if (over) return;
      over = true;
      clients.delete(client);
      refusals.freed(clients.size);
      observe('streamClosed', peer, failure?.error);
      resolveDone();
    };

    socket.on('data', (b: Buffer) => {
      pace.add(b.length);
      arrivals.add(b.length);
      observe('audioReceived', peer, b.length);
    });
    // our last line is out: the stream is over; a client that keeps its side open is let go soon
    socket.on('finish', () => {
      if (!failure) log.info('Connection to client closed');
      end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    });
    pipeline(socket, boundary, encoder, socket, (err) => {
      watch.stop();
      if (err && !over) {
        // vanished mid-stream (reset, or closed without a half-close): its state is freed at once
        if (!failure) {
          log.info(`Client ${peer} disconnected`);
          failure = { error: { code: 'ERR_CLIENT_GONE', message: err.message } };
        }
      } else if (err) log.debug(`Client ${peer}: ${err.message}`);
      end();
    });
    // after the pipeline's own listener, so that it sees the socket once the line is written
    encoder.on('data', () => watch.wrote());
    if (options.idleTimeout && options.idleTimeout > 0) {
      socket.setTimeout(options.idleTimeout * 1000, () => {
        if (over) return;
        log.warning(`Client ${peer} idle for ${options.idleTimeout} s: finishing its stream`);
        boundary.finish();
      });
    }
    return client;
  }

  /** Runs a hook of the embedding application; its failure is logged and otherwise ignored. */
  function guard(f: () => void, what: string): void {
    try {
      f();
    } catch (err) {
      log.warning(`${what} failed: ${(err as Error).message}`);
    }
  }

  return {
    scheduler,
    get connections() {
      return clients.size;
    },
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          if (err.code === 'EADDRINUSE') {
            reject(new SimulstreamError('ERR_ADDRESS_IN_USE', `Address already in use: ${host}:${port} (another server is listening there; choose another with --port)`));
          } else reject(err);
        };
        const onListening = (): void => {
          server.off('error', onError);
          // from now on (e.g. out of file descriptors while accepting): logged, and the server goes on
          server.on('error', (err) => log.error(`server: ${err.message}`));
          const a = server.address() as net.AddressInfo;
          log.info(`Listening on ${host}:${a.port}`);
          resolve(a);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(port, host);
      }),
    close: async () => {
      closing = true;
      const stopped = new Promise<void>((r) => server.close(() => r()));
      for (const c of clients) c.finish();
      await Promise.all([...clients].map((c) => c.done));
      for (const s of sockets) s.destroy();
      await stopped;
      log.info('Connection closed, terminating.');
    },
  };
}

/** Everything that can fail per connection is checked once, here: nothing is accepted first and failed later. */
function validate(options: ServerOptions, maxConnections: number, minChunkSize: number): void {
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new InvalidOptionError('--max-connections', `must be a positive integer, got ${maxConnections}`);
  if (!(minChunkSize > 0)) throw new InvalidOptionError('--min-chunk-size', `must be a positive number of seconds, got ${minChunkSize}`);
  if (minChunkSize >= (options.audioMaxLen ?? DEFAULTS.audioMaxLen)) throw new InvalidOptionError('--min-chunk-size', 'min_chunk_size must be smaller than audio_max_len');
  // the policy checks language, task and lengths against the model when a stream is made: make one
  const { scheduler: _s, ...policy } = options as ServerOptions & { scheduler?: unknown };
  void new AlignAttSession(options.model, policy);
}

/** A scheduler that reports each iteration (the session schedules one iteration per unit of work) and its wait. */
function observedScheduler(scheduler: Scheduler, report: (u: AlignAttUpdate, queueMs: number) => void): AlignAttOptions['scheduler'] {
  return {
    run: <T>(work: () => Promise<T>): Promise<T> => {
      const queued = performance.now();
      return scheduler.run(async () => {
        const queueMs = performance.now() - queued;
        const result = await work();
        report(result as unknown as AlignAttUpdate, queueMs);
        return result;
      });
    },
  };
}

/** bench:server's emission lag of a segment's last word: now − when the audio up to it arrived (s); NaN when unknown. */
function lagOf(seg: Segment, arrivals: ArrivalClock, minChunkSize: number): number {
  const end = seg.audioEndMs / 1000;
  const last = seg.words.at(-1);
  const at = arrivals.at(last ? Math.min(end, Math.max(end - minChunkSize, last.end)) : end);
  return (performance.now() - at) / 1000;
}

type Args<K extends keyof ServerObserver> = Parameters<NonNullable<ServerObserver[K]>>;

/** Calls the observers' methods; one that throws is logged (once per method) and otherwise ignored. */
function observerCaller(observers: readonly ServerObserver[], log: Logger) {
  const warned = new Set<string>();
  return <K extends keyof ServerObserver>(name: K, ...args: Args<K>): void => {
    for (const observer of observers) {
      const f = observer[name] as ((...a: Args<K>) => void) | undefined;
      if (!f) continue;
      try {
        f.apply(observer, args);
      } catch (err) {
        const msg = `observer ${name} failed: ${(err as Error)?.message ?? String(err)}`;
        if (warned.has(name)) log.debug(msg);
        else {
          warned.add(name);
          log.warning(`${msg} (further failures of it are logged at DEBUG)`);
        }
      }
    }
  };
}

/** Refusals are logged once per busy spell, then counted; the count is logged when a slot frees. */
class RefusalLog {
  private busy = false;
  private count = 0;

  constructor(
    private readonly log: Logger,
    private readonly max: number,
  ) {}

  refused(peer: string, reason: 'capacity' | 'closing'): void {
    if (this.busy) {
      this.count++;
      return;
    }
    this.busy = true;
    this.log.warning(`Refusing client on ${peer}: ${reason === 'closing' ? 'shutting down' : `--max-connections ${this.max} reached`} (further refusals are counted)`);
  }

  freed(open: number): void {
    if (!this.busy || open >= this.max) return;
    if (this.count > 0) this.log.warning(`Refused ${this.count} more client(s) while at capacity`);
    this.busy = false;
    this.count = 0;
  }
}
