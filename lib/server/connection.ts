import type net from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import type { AlignAttUpdate } from '../decode/align-att.js';
import { errorInfo, type ErrorInfo } from '../errors.js';
import { encodeError, LineEncoder, type OutputFormat } from '../stream/line-encoder.js';
import type { Segment } from '../stream/utf8-carry.js';
import type { FanOut } from '../util/fan-out.js';
import { tap } from '../util/tap.js';
import { ArrivalClock } from './arrival-clock.js';
import { withContext, type Logger } from './logger.js';
import type { ServerObserver } from './observer.js';
import { MAX_OUTPUT_BYTES, OutputWatch } from './output-watch.js';
import { SenderPace } from './sender-pace.js';
import { socketEnds } from './socket-ends.js';

/** What a connection's transcriber is told by the connection it serves. */
export interface StreamHooks {
  /** The client has never sent faster than real time (for catch-up). */
  readonly realTime: () => boolean;
  /** Each policy iteration's update. */
  readonly onUpdate: (update: AlignAttUpdate) => void;
}

/** What every connection of one server shares. */
export interface ConnectionContext {
  readonly log: Logger;
  readonly format: OutputFormat;
  /** Voice activity control is on: JSON lines carry `is_final`. */
  readonly vac: boolean;
  /** Milliseconds a client may leave its output unread (0: forever). */
  readonly outputTimeoutMs: number;
  /** Milliseconds without data before a client's stream is finished (0: never). */
  readonly idleTimeoutMs: number;
  /** Seconds of audio per iteration (for the emission lag of a line). */
  readonly minChunkSize: number;
  /**
   * A stream's transcriber (objectMode: segments out), with the server's policy; `language`
   * overrides the server's for one call (a jambonz `start`), checked against the model (throws).
   */
  readonly transcriber: (peer: string, hooks: StreamHooks, language?: string) => Duplex;
  readonly observe: FanOut<ServerObserver>;
  /** Called with every segment sent (see `ServerOptions.onSegment`). */
  readonly onSegment?: (segment: Segment, client: ClientInfo) => void;
  /** Where each sent line is echoed. */
  readonly echo?: NodeJS.WritableStream;
}

/** What a segment callback ({@link ServerOptions.onSegment}) knows of the client. */
export interface ClientInfo {
  /** `('127.0.0.1', 54321)`, as the log lines print it. */
  readonly peer: string;
  /** When (`performance.now()`) the stream's audio up to `seconds` had arrived; NaN before it has. */
  receivedAt(seconds: number): number;
}

/** One client's stream, as its server tracks it. */
export interface Connection {
  readonly peer: string;
  /** Resolves once the stream is over: its last line sent, or the client gone. */
  readonly done: Promise<void>;
  /** Ends the client's audio now: final pass, its remaining lines, then the socket closes. */
  finish(): void;
}

/** Seconds a client may keep its side open after our last line. */
const LINGER_MS = 2000;

/**
 * One client of SimulStreaming's TCP protocol: `pipeline(socket, meter, transcriber, encoder,
 * socket)`. The pipeline's callback settles the stream: complete (the client had its last line),
 * the client gone (its state freed at once), or the stream failed (logged, a JSON client gets
 * `{"error": …}`, the socket is half-closed and what the client still sends is dropped, so it is
 * not reset mid-send). One failure is that connection's alone.
 */
export function serveConnection(socket: net.Socket, peer: string, ctx: ConnectionContext): Connection {
  const log = withContext(ctx.log, { client: peer });
  log.info(`Connected to client on ${peer}`);
  const opened = performance.now();
  const pace = new SenderPace();
  const arrivals = new ArrivalClock();
  const info: ClientInfo = { peer, receivedAt: (s) => arrivals.at(s) };
  // what can fail while setting up (the model for this client, the transcriber) fails before the socket is taken
  const tr = ctx.transcriber(peer, { realTime: () => pace.realTime, onUpdate: (u) => ctx.observe('iteration', peer, u, u.queueMs) });
  const ends = socketEnds(socket);
  let failure: ErrorInfo | undefined;
  let settled = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const over = (): void => {
    if (settled) return;
    settled = true;
    ctx.observe('streamClosed', peer, failure);
    resolveDone();
  };
  const linger = (): void => void setTimeout(() => socket.destroy(), LINGER_MS).unref();

  const meter = tap<Buffer>(({ length: n }) => {
    pace.add(n);
    arrivals.add(n);
    ctx.observe('audioReceived', peer, n, 'tcp');
  });
  const encoder = new LineEncoder({
    format: ctx.format,
    vac: ctx.vac,
    emissionTime: () => (performance.now() - opened) / 1000,
    onLine: (line, seg) => {
      if (ctx.onSegment) hook(log, 'onSegment', () => ctx.onSegment!(seg, info));
      if (line === '') return;
      ctx.observe('segment', peer, seg, lagOf(seg, arrivals, ctx.minChunkSize));
      if (ctx.echo) hook(log, 'echo', () => ctx.echo!.write(line));
    },
  });
  const watch = new OutputWatch(ends.output, ctx.outputTimeoutMs, MAX_OUTPUT_BYTES, (reason) => {
    failure ??= { code: 'ERR_OUTPUT_STALLED', message: reason };
    log.warning(`Client ${peer}: ${reason}: closing it`);
    socket.destroy();
  });
  encoder.on('data', () => watch.wrote());

  let piped = false;
  // our last line is out (or the error line): a client that keeps its side open is let go soon
  socket.on('finish', () => {
    if (!failure) log.info('Connection to client closed');
    over();
    linger();
  });
  socket.on('close', () => {
    if (piped) over();
  });
  pipeline(ends.input, meter, tr, encoder, ends.output, (err) => {
    piped = true;
    watch.stop();
    if (!err) {
      if (socket.destroyed) over();
      return;
    }
    const e = errorInfo(err);
    if (e.code === 'ERR_CLIENT_GONE') {
      // vanished mid-stream (reset, or closed without a half-close): its state is freed at once
      if (!failure) log.info(`Client ${peer} disconnected`);
      failure ??= e;
      socket.destroy();
      over();
      return;
    }
    failure ??= e;
    log.error(`Client ${peer}: ${e.message}`);
    ends.stopReading();
    if (socket.destroyed) return over();
    if (ctx.format === 'json') socket.end(encodeError(e.code, e.message));
    else socket.end();
  });
  if (ctx.idleTimeoutMs > 0) {
    socket.setTimeout(ctx.idleTimeoutMs, () => {
      if (settled) return;
      log.warning(`Client ${peer} idle for ${ctx.idleTimeoutMs / 1000} s: finishing its stream`);
      ends.stopReading();
    });
  }
  return { peer, done, finish: () => ends.stopReading() };
}

/** Runs a hook of the embedding application; its failure is logged and otherwise ignored. */
export function hook(log: Logger, what: string, f: () => void): void {
  try {
    f();
  } catch (err) {
    log.warning(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** bench:server's emission lag of a segment's last word: now − when the audio up to it arrived (s); NaN when unknown. */
export function lagOf(seg: Segment, arrivals: ArrivalClock, minChunkSize: number): number {
  const end = seg.audioEndMs / 1000;
  const last = seg.words.at(-1);
  const at = arrivals.at(last ? Math.min(end, Math.max(end - minChunkSize, last.end)) : end);
  return (performance.now() - at) / 1000;
}
