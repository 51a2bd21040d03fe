import net from 'node:net';
import { resolveAlignAttOptions, type AlignAttOptions } from '../decode/align-att-options.js';
import { DEFAULTS } from '../defaults.js';
import { errorInfo, InvalidOptionError, SimulstreamError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import { encodeError, type OutputFormat } from '../stream/line-encoder.js';
import { transcriber, TRANSCRIBER_OPTION_KEYS } from '../stream/transcriber.js';
import { checkOptionKeys } from '../util/option-keys.js';
import type { Segment } from '../stream/utf8-carry.js';
import type { Chunking } from '../stream/chunk-buffer.js';
import { fanOut } from '../util/fan-out.js';
import type { SileroVad } from '../vad/silero-vad.js';
import type { VadIteratorOptions } from '../vad/vad-iterator.js';
import { serveConnection, type ClientInfo, type Connection, type ConnectionContext } from './connection.js';
import { silentLogger, type Logger } from './logger.js';
import type { ServerObserver } from './observer.js';
import { Scheduler } from './scheduler.js';

export type { ClientInfo } from './connection.js';

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

/** Every key of {@link ServerOptions}, at run time. */
export const SERVER_OPTION_KEYS = [
  ...TRANSCRIBER_OPTION_KEYS.filter((k) => k !== 'objectMode' && k !== 'catchUp' && k !== 'onUpdate' && k !== 'scheduler'),
  'host', 'port', 'format', 'maxConnections', 'idleTimeout', 'outputTimeout', 'parallelIterations', 'catchUp', 'logger', 'echo', 'onSegment', 'observers', 'modelFor',
] as const satisfies readonly (keyof ServerOptions)[];

export interface SimulstreamServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<net.AddressInfo>;
  /**
   * Stops accepting (readiness goes false), lets open streams go on until their clients end them
   * or `drainTimeout` seconds pass (default 0: at once), then finishes the rest (final pass,
   * remaining lines) and closes.
   */
  close(options?: { readonly drainTimeout?: number }): Promise<void>;
  /** True from the first `close()` on: draining or closed. */
  readonly closing: boolean;
  /** Clients whose stream is open now. */
  readonly connections: number;
  readonly scheduler: Scheduler;
}

/** Seconds a refused client may keep its side open. */
const REFUSED_LINGER_MS = 2000;

/**
 * SimulStreaming's TCP protocol, for many clients at once over one model. Each connection is its
 * own pipeline ({@link serveConnection}): whatever fails in one stream ends that connection alone.
 * The options are checked here, before anything listens.
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
  const clients = new Set<Connection>();
  const sockets = new Set<net.Socket>();
  const observe = fanOut(options.observers ?? [], log);
  const refusals = new RefusalLog(log, maxConnections);
  let closing = false;
  const { catchUp, model, modelFor, observers: _o, onSegment, echo, logger: _l, host: _h, port: _p, format: _f, maxConnections: _m, idleTimeout, outputTimeout, parallelIterations: _pi, ...policy } = options;
  const ctx: ConnectionContext = {
    log,
    format,
    vac: !!options.vad,
    outputTimeoutMs: (outputTimeout ?? DEFAULTS.outputTimeout) * 1000,
    idleTimeoutMs: (idleTimeout ?? DEFAULTS.idleTimeout) * 1000,
    minChunkSize,
    observe,
    ...(onSegment ? { onSegment } : {}),
    ...(echo ? { echo } : {}),
    transcriber: (peer, hooks) =>
      transcriber({
        ...policy,
        model: modelFor ? modelFor(peer) : model,
        objectMode: true,
        scheduler,
        onUpdate: hooks.onUpdate,
        ...((catchUp ?? DEFAULTS.catchUp) ? { catchUp: hooks.realTime } : {}),
      }),
  };

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', (err) => log.debug(`Client socket: ${err.message}`));
    const peer = `('${socket.remoteAddress}', ${socket.remotePort})`;
    if (closing || clients.size >= maxConnections) return refuse(socket, peer, closing ? 'closing' : 'capacity');
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let c: Connection;
    try {
      c = serveConnection(socket, peer, ctx);
    } catch (err) {
      // a failure while setting a connection up (its model, its transcriber) is that connection's alone
      log.error(`Client ${peer}: ${errorInfo(err).message}`);
      socket.destroy();
      return;
    }
    clients.add(c);
    observe('connectionAccepted', peer);
    void c.done.then(() => {
      clients.delete(c);
      refusals.freed(clients.size);
    });
  });

  function refuse(socket: net.Socket, peer: string, reason: 'capacity' | 'closing'): void {
    refusals.refused(peer, reason);
    observe('connectionRefused', peer, reason);
    const why = reason === 'closing' ? 'the server is shutting down' : `the server is at its limit of ${maxConnections} connections`;
    socket.resume(); // read and drop what it sends, so that closing does not reset it
    if (format === 'json') socket.end(encodeError('ERR_SERVER_BUSY', `${why}; try again later`));
    else socket.end();
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  }

  return {
    scheduler,
    get connections() {
      return clients.size;
    },
    get closing() {
      return closing;
    },
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          if (err.code === 'EADDRINUSE') {
            reject(new SimulstreamError('ERR_ADDRESS_IN_USE', `Address already in use: ${host}:${port} (another server is listening there; choose another with --port)`));
          } else reject(new SimulstreamError('ERR_LISTEN', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
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
    close: async ({ drainTimeout = 0 } = {}) => {
      if (!(drainTimeout >= 0)) throw new InvalidOptionError('drainTimeout', `must be a number of seconds ≥ 0, got ${drainTimeout}`);
      closing = true;
      const stopped = new Promise<void>((r) => server.close(() => r()));
      const all = (): Promise<void> => Promise.all([...clients].map((c) => c.done)).then(() => undefined);
      if (drainTimeout > 0 && clients.size > 0) {
        log.info(`Draining ${clients.size} open stream(s) for up to ${drainTimeout} s`);
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<void>((r) => (timer = setTimeout(r, drainTimeout * 1000)));
        await Promise.race([all(), expired]);
        clearTimeout(timer);
      }
      for (const c of clients) c.finish();
      await all();
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
  // language, task and lengths against the model: the policy's own resolver
  resolveAlignAttOptions(options.model, options);
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
