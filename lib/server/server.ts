import net from 'node:net';
import type { AlignAttOptions, AlignAttUpdate } from '../decode/align-att.js';
import { SimulstreamError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import { transcriber, type Transcriber } from '../stream/transcriber.js';
import type { Segment } from '../stream/utf8-carry.js';
import type { Chunking } from '../stream/chunk-buffer.js';
import { encodeError, encodeSegment, type OutputFormat } from './line-protocol.js';
import { silentLogger, withContext, type Logger } from './logger.js';
import type { ServerObserver } from './observer.js';
import { Scheduler } from './scheduler.js';
import type { SileroVad } from '../vad/silero-vad.js';
import type { VadIteratorOptions } from '../vad/vad-iterator.js';

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
  /** Most simultaneous clients; more are refused (logged). Default 64. */
  readonly maxConnections?: number;
  /** Seconds without data after which a client's stream is finished and closed (0: never). Default 0. */
  readonly idleTimeout?: number;
  /** Policy iterations that may run at once (default 1: ONNX Runtime already uses every core). */
  readonly parallelIterations?: number;
  /**
   * A real-time client (one that sends no faster than real time) whose chunks pile up because the
   * machine is overloaded has them decoded as one iteration, so its lag stops growing. Clients
   * that send faster than real time (files) are slowed by TCP instead. Default true.
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
  /** Told what happens (metrics, the live page); one that throws is logged and ignored. */
  readonly observers?: readonly ServerObserver[];
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
  /** Clients connected now. */
  readonly connections: number;
  readonly scheduler: Scheduler;
}

interface Client {
  readonly socket: net.Socket;
  readonly tr: Transcriber;
  readonly done: Promise<void>;
  /** Ends the client's audio: final pass, remaining lines, close. */
  readonly finish: () => void;
}

/** SimulStreaming's TCP server protocol, for many clients at once over one model. */
export function createServer(options: ServerOptions): SimulstreamServer {
  const log = options.logger ?? silentLogger;
  const host = options.host ?? 'localhost';
  const port = options.port ?? 43007;
  const format = options.format ?? 'text';
  const maxConnections = options.maxConnections ?? 64;
  const scheduler = new Scheduler(options.parallelIterations ?? 1);
  const clients = new Set<Client>();
  const sockets = new Set<net.Socket>();
  let closing = false;
  const observers = options.observers ?? [];
  /** Tells the observers, which must never break a stream. */
  const observe = (tell: (o: ServerObserver) => void): void => {
    for (const o of observers) {
      try {
        tell(o);
      } catch (err) {
        log.error(`observer: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const peer = `('${socket.remoteAddress}', ${socket.remotePort})`;
    if (closing || clients.size >= maxConnections) {
      log.warning(`Refusing client on ${peer}: ${closing ? 'shutting down' : `--max-connections ${maxConnections} reached`}`);
      observe((o) => o.connectionRefused?.(peer, closing ? 'closing' : 'capacity'));
      socket.destroy();
      return;
    }
    withContext(log, { client: peer }).info(`Connected to client on ${peer}`);
    observe((o) => o.connectionAccepted?.(peer));
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    clients.add(serve(socket, peer));
  });

  function serve(socket: net.Socket, peer: string): Client {
    const log = withContext(options.logger ?? silentLogger, { client: peer });
    const opened = performance.now();
    const arrivals = new ArrivalClock();
    // a real-time sender: no more audio than wall-clock time since it connected (+1 s of slack)
    const realTime = (): boolean => arrivals.seconds <= (performance.now() - opened) / 1000 + 1;
    const { catchUp, ...rest } = options;
    // with an observer, each iteration's queue wait and result are reported (the session's
    // scheduled work is its iteration, whose result is an AlignAttUpdate)
    const observed = {
      run: <T>(work: () => Promise<T>): Promise<T> => {
        const asked = performance.now();
        return scheduler.run(async () => {
          const queueMs = performance.now() - asked;
          const result = await work();
          observe((o) => o.iteration?.(peer, result as unknown as AlignAttUpdate, queueMs));
          return result;
        });
      },
    };
    const tr = transcriber({
      ...rest,
      objectMode: true,
      scheduler: observers.length > 0 ? observed : scheduler,
      ...(catchUp !== false ? { catchUp: realTime } : {}),
    });
    const info: ClientInfo = { peer, receivedAt: (s) => arrivals.at(s) };
    let finished = false;
    let ending = false;
    const finish = (): void => {
      if (ending || finished) return;
      ending = true;
      tr.end();
    };
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const client: Client = { socket, tr, done, finish };
    const cleanup = (error?: { code: string; message: string }): void => {
      if (!clients.delete(client)) return;
      observe((o) => o.streamClosed?.(peer, error));
      resolveDone();
    };
    const minChunk = options.minChunkSize ?? 1.2;
    /** bench:server's emission lag of the segment's last word (its end clamped into the chunk). */
    const lagOf = (seg: Segment): number => {
      const w = seg.words.at(-1);
      if (!w) return Number.NaN;
      const end = seg.audioEndMs / 1000;
      return (performance.now() - arrivals.at(Math.min(end, Math.max(end - minChunk, w.end)))) / 1000;
    };

    tr.on('data', (seg: Segment) => {
      const line = encodeSegment(seg, format, (performance.now() - opened) / 1000, !!options.vad);
      options.onSegment?.(seg, info);
      if (observers.some((o) => o.segment)) observe((o) => o.segment?.(peer, seg, lagOf(seg)));
      if (line === '') return;
      options.echo?.write(line);
      if (!socket.destroyed) socket.write(line);
    });
    tr.on('end', () => {
      finished = true;
      socket.end(() => log.info('Connection to client closed'));
      // a client that keeps its side open after our last line is let go after a grace period
      setTimeout(() => socket.destroy(), 2000).unref();
      cleanup();
    });
    tr.on('error', (err: Error) => {
      const code = err instanceof SimulstreamError ? err.code : 'ERR_INTERNAL';
      log.error(`Client ${peer}: ${err.message}`);
      if (!socket.destroyed) {
        if (format === 'json') socket.write(encodeError(code, err.message));
        socket.end();
      }
      finished = true;
      cleanup({ code, message: err.message });
    });

    socket.on('data', (b: Buffer) => {
      if (finished || ending) return;
      arrivals.add(b.length);
      observe((o) => o.audioReceived?.(peer, b.length));
      if (!tr.write(b)) {
        socket.pause();
        tr.once('drain', () => socket.resume());
      }
    });
    // the client half-closed: final pass, remaining lines, then we close
    socket.on('end', finish);
    socket.on('error', (err) => log.debug(`Client ${peer}: ${err.message}`));
    socket.on('close', () => {
      if (!finished) {
        // vanished mid-stream: free its state at once
        log.info(`Client ${peer} disconnected`);
        finished = true;
        tr.destroy();
        cleanup();
      }
    });
    if (options.idleTimeout && options.idleTimeout > 0) {
      socket.setTimeout(options.idleTimeout * 1000, () => {
        if (finished) return;
        log.warning(`Client ${peer} idle for ${options.idleTimeout} s: finishing its stream`);
        finish();
      });
    }
    return client;
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
      for (const s of sockets) s.end(() => s.destroy());
      await stopped;
      log.info('Connection closed, terminating.');
    },
  };
}

/** When each point of a stream's audio arrived: a few hundred (bytes, time) marks, oldest dropped. */
class ArrivalClock {
  private bytes = 0;
  private forgotten = 0;

  /** Seconds of audio received. */
  get seconds(): number {
    return this.bytes / 32000;
  }
  private readonly marks: [number, number][] = [];

  add(n: number): void {
    this.bytes += n;
    this.marks.push([this.bytes, performance.now()]);
    if (this.marks.length > 512) this.forgotten = this.marks.splice(0, 256).at(-1)![0];
  }

  at(seconds: number): number {
    const need = seconds * 32000;
    if (need <= this.forgotten) return Number.NaN;
    const m = this.marks.find(([b]) => b >= need);
    return m ? m[1] : Number.NaN;
  }
}
