import { PassThrough, pipeline, type Transform, Writable } from 'node:stream';
import { toModelRate } from '../../audio/model-rate.js';
import { SAMPLE_RATE } from '../../audio/pcm.js';
import { Deinterleaver } from '../../audio/stereo-split.js';
import type { Leg, StoredLine, TranscriptStore } from '../../bridge/transcript-store.js';
import { errorInfo, SimulstreamError, type ErrorInfo } from '../../errors.js';
import { formatLine, formatMs } from '../../stream/line-format.js';
import type { Segment } from '../../stream/utf8-carry.js';
import { ArrivalClock } from '../arrival-clock.js';
import { hook, lagOf, type ClientInfo, type Connection, type ConnectionContext } from '../connection.js';
import { withContext, type Logger } from '../logger.js';
import type { CallIdentity, StreamProtocol } from '../observer.js';
import { MAX_OUTPUT_BYTES, OutputWatch } from '../output-watch.js';
import { SenderPace } from '../sender-pace.js';
import { tap } from '../../util/tap.js';
import { IdentityHolder } from './call-identity.js';

/** What every streamed call of one server shares: a TCP connection's context, plus the transcript store. */
export interface CallContext extends ConnectionContext {
  /** `--out-dir`: each call's lines in `<uuid>.jsonl`. */
  readonly store?: TranscriptStore;
}

/** Channel layout of a call's audio: one party, both mixed, or both interleaved (left = caller, right = callee). */
export type CallLayout = 'mono' | 'mixed' | 'stereo';

/** How a call's audio comes: s16le at `rate` Hz in `layout`. */
export interface CallFormat {
  readonly rate: number;
  readonly layout: CallLayout;
  /** The call's language, when it says (a jambonz `start`); else the server's. */
  readonly language?: string;
}

/** Where one leg's segments go back to the client. */
export interface LegOutput {
  /** Segments → the dialect's messages (each chunk one message). */
  readonly encoder: Transform;
  /** The transport: each write is one message; it must not fail when the client is gone (it drops). */
  readonly output: Writable;
}

/** What the call asks of its transport. */
export interface CallTransport {
  /** Drops the connection now (a client that does not read its output). */
  abort(reason: string): void;
  /** A leg's stream failed (the model, a bug): tell the client, if its protocol can. */
  legFailed?(leg: Leg, error: ErrorInfo): void;
}

/** The legs of each layout: stereo's left channel is the channel's own party (the caller on an inbound leg). */
export const LEGS_OF: Readonly<Record<CallLayout, readonly Leg[]>> = { mono: ['caller'], mixed: ['mixed'], stereo: ['caller', 'callee'] };

interface LegRun {
  readonly leg: Leg;
  readonly input: PassThrough;
  /** The leg's pace and arrivals, judged as the client's bytes are read (before a leg's backpressure can hold them). */
  readonly pace: SenderPace;
  readonly arrivals: ArrivalClock;
  readonly done: Promise<void>;
}

/**
 * One call from a switch (a WebSocket dialect, AudioSocket): per leg, `pipeline(input, to 16 kHz,
 * meter, transcriber, line tap, dialect encoder, transport)`, settled in the pipeline's callback.
 * Stereo is split into its two legs (left = caller, right = callee), each transcribed on its own.
 * Each line is stored (`--out-dir`), told to the observers and sent back by the dialect. The end
 * of the call's audio (hang-up, `stop`, a client that vanished, a protocol error, shutdown) runs
 * the final pass: its lines are stored even when the client can no longer be told.
 */
export class StreamedCall implements Connection {
  readonly done: Promise<void>;
  readonly startedAt = new Date();
  private readonly identityHolder: IdentityHolder;
  private readonly log: Logger;
  private legs: LegRun[] = [];
  private layout: CallLayout | null = null;
  private splitter: Deinterleaver | null = null;
  /** 16 kHz bytes per byte of one channel at the call's rate. */
  private scale = 1;
  private ended = false;
  private settled = false;
  private announced = false;
  /** The transcript store refused a line: the call goes on (its client still gets its lines) and ends with this error. */
  private storeFailure: ErrorInfo | undefined;
  private idleTimer: NodeJS.Timeout | null = null;
  private resolveDone!: () => void;
  /** Why the call did not end well (its first error); undefined when it did. */
  failure: ErrorInfo | undefined;

  constructor(
    readonly protocol: StreamProtocol,
    readonly peer: string,
    private readonly ctx: CallContext,
    private readonly transport: CallTransport,
  ) {
    this.log = withContext(ctx.log, { client: peer, protocol });
    this.done = new Promise<void>((r) => (this.resolveDone = r));
    this.identityHolder = new IdentityHolder(protocol, (id) => {
      this.log.info(`${protocol} call ${id.uuid} (${id.caller || '?'} → ${id.callee || '?'}) from ${peer}`);
      this.announce();
    });
    this.armIdle();
  }

  /** Whether the legs are running (the call's format is known). */
  get started(): boolean {
    return this.layout !== null;
  }

  get legNames(): readonly Leg[] {
    return this.layout ? LEGS_OF[this.layout] : [];
  }

  /** The call's identity (fixed now if it was not: see {@link IdentityHolder}). */
  identity(): CallIdentity {
    return this.identityHolder.get();
  }

  /** What the call's metadata says of it; false when its identity was already fixed. */
  offerIdentity(fields: Partial<CallIdentity>): boolean {
    return this.identityHolder.offer(fields);
  }

  /**
   * Starts the legs for audio in `format`; `outputs(leg, index)` gives each leg's way back to the
   * client (none: lines go to the store and the observers only). Throws when a leg cannot be set
   * up (an unknown language, the model): nothing is left running then.
   */
  start(format: CallFormat, outputs?: (leg: Leg, index: number) => LegOutput): void {
    if (this.layout || this.ended) return;
    const legs = LEGS_OF[format.layout];
    const runs: { leg: Leg; streams: (NodeJS.ReadableStream | NodeJS.WritableStream)[]; input: PassThrough; pace: SenderPace; arrivals: ArrivalClock; watch: OutputWatch | null }[] = [];
    try {
      legs.forEach((leg, i) => {
        const pace = new SenderPace();
        const arrivals = new ArrivalClock();
        const info: ClientInfo = { peer: this.peer, receivedAt: (s) => arrivals.at(s) };
        const tr = this.ctx.transcriber(this.peer, { realTime: () => pace.realTime, onUpdate: (u) => this.ctx.observe('iteration', this.peer, u, u.queueMs, leg) }, format.language);
        const input = new PassThrough();
        // the pace and the arrivals are told in write(): one leg's backpressure pauses the whole
        // call, and the other leg's audio must not look late (or, once released, faster than real time)
        const meter = tap<Buffer>((b) => this.ctx.observe('audioReceived', this.peer, b.length, this.protocol));
        const lines = tap<Segment>((seg) => this.line(leg, seg, info, arrivals), true);
        const way = outputs?.(leg, i);
        const output = way?.output ?? nullSink();
        let watch: OutputWatch | null = null;
        if (way) {
          watch = new OutputWatch(way.output, this.ctx.outputTimeoutMs, MAX_OUTPUT_BYTES, (reason) => {
            this.failure ??= { code: 'ERR_OUTPUT_STALLED', message: reason };
            this.log.warning(`Client ${this.peer}: ${reason}: closing it`);
            this.transport.abort(reason);
          });
          way.encoder.on('data', () => watch!.wrote());
        }
        const streams: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [input, toModelRate(format.rate), meter, tr, lines, ...(way ? [way.encoder] : []), output];
        runs.push({ leg, streams, input, pace, arrivals, watch });
      });
    } catch (err) {
      for (const r of runs) for (const s of r.streams) (s as unknown as { destroy(): void }).destroy();
      throw err;
    }
    this.layout = format.layout;
    this.scale = SAMPLE_RATE / format.rate;
    if (format.layout === 'stereo') this.splitter = new Deinterleaver();
    this.legs = runs.map((r) => ({
      leg: r.leg,
      input: r.input,
      pace: r.pace,
      arrivals: r.arrivals,
      done: new Promise<void>((resolve) => {
        pipeline(r.streams, (err) => {
          r.watch?.stop();
          if (err) this.legError(r.leg, err);
          resolve();
        });
      }),
    }));
    this.announce();
    void Promise.all(this.legs.map((l) => l.done)).then(() => this.settle());
  }

  /**
   * Audio as the client sent it (the call's rate and layout); false when a leg's input is full:
   * wait for {@link drained} before the next write (pause the client's socket meanwhile).
   */
  write(chunk: Buffer): boolean {
    if (this.ended || !this.layout) return true;
    this.armIdle();
    const parts = this.splitter ? this.splitter.push(chunk) : [chunk];
    let ok = true;
    this.legs.forEach((l, i) => {
      if (l.input.destroyed || l.input.writableEnded) return;
      const part = parts[i]!;
      l.pace.add(part.length * this.scale);
      l.arrivals.add(part.length * this.scale);
      if (!l.input.write(part)) ok = false;
    });
    return ok;
  }

  /** Resolves once every leg's input can take more. */
  drained(): Promise<void> {
    return Promise.all(
      this.legs.map(
        (l) =>
          new Promise<void>((resolve) => {
            if (!l.input.writableNeedDrain || l.input.destroyed) return resolve();
            const go = (): void => {
              l.input.off('drain', go);
              l.input.off('close', go);
              resolve();
            };
            l.input.on('drain', go);
            l.input.on('close', go);
          }),
      ),
    ).then(() => undefined);
  }

  /** The call's audio is over (hang-up, `stop`, the client gone): the final pass runs, its lines are stored. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.disarmIdle();
    if (this.splitter && this.splitter.pending > 0) this.log.warning(`Client ${this.peer}: the audio ended inside a stereo frame; its last ${this.splitter.pending} byte(s) were ignored`);
    for (const l of this.legs) if (!l.input.destroyed && !l.input.writableEnded) l.input.end();
    if (!this.layout) this.settle();
  }

  /** The call failed (its protocol, its transport): logged once, then as {@link end}. */
  fail(error: ErrorInfo): void {
    if (!this.failure) {
      this.failure = error;
      this.log.error(`Client ${this.peer}: ${error.message}`);
    }
    this.end();
  }

  /** Shutdown: the call ends as at a hang-up. */
  finish(): void {
    this.end();
  }

  private legError(leg: Leg, err: unknown): void {
    const e = errorInfo(err);
    if (!this.failure) {
      this.failure = e;
      this.log.error(`Client ${this.peer} (${leg}): ${e.message}`);
    }
    this.transport.legFailed?.(leg, e);
  }

  /** One segment of a leg: the store, the observers, the embedding application's hooks. */
  private line(leg: Leg, seg: Segment, info: ClientInfo, arrivals: ArrivalClock): void {
    if (this.ctx.onSegment) hook(this.log, 'onSegment', () => this.ctx.onSegment!(seg, info));
    if (seg.text === '') return;
    const id = this.identityHolder.get();
    if (this.ctx.store) {
      const line: StoredLine = {
        call_uuid: id.uuid,
        leg,
        caller: id.caller,
        callee: id.callee,
        start_ms: Number(formatMs(seg.startMs)),
        end_ms: Number(formatMs(seg.endMs)),
        text: seg.text,
        received_at: new Date().toISOString(),
        call_started_at: this.startedAt.toISOString(),
      };
      try {
        this.ctx.store.append(line);
      } catch (err) {
        // the client still gets its lines; the operator is told once per call, and at its end
        if (!this.storeFailure) {
          const e = new SimulstreamError('ERR_TRANSCRIPT_STORE', `call ${id.uuid}: cannot store its lines in ${this.ctx.store.fileFor(id.uuid)}: ${(err as Error).message}`, { cause: err });
          this.storeFailure = errorInfo(e);
          this.log.error(`${e.code}: ${e.message}`);
        }
      }
    }
    this.ctx.observe('segment', this.peer, seg, lagOf(seg, arrivals, this.ctx.minChunkSize), leg);
    if (this.ctx.echo) hook(this.log, 'echo', () => this.ctx.echo!.write(formatLine(seg.startMs, seg.endMs, seg.text)));
  }

  /** Tells the observers who the call is, once its identity and its legs are known (or at its end). */
  private announce(): void {
    if (this.announced || !this.identityHolder.isFixed || (!this.layout && !this.settled)) return;
    this.announced = true;
    const id = this.identityHolder.get();
    this.ctx.observe('callIdentified', this.peer, { ...id, protocol: this.protocol, legs: this.legNames, startedAt: this.startedAt });
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.disarmIdle();
    this.identityHolder.get();
    this.announce();
    if (!this.failure) this.log.info(`${this.protocol} call ${this.identityHolder.get().uuid} ended`);
    this.ctx.observe('streamClosed', this.peer, this.failure ?? this.storeFailure);
    this.resolveDone();
  }

  /** (Re)starts the idle clock: the one timer is refreshed at each write, not replaced. */
  private armIdle(): void {
    if (this.ctx.idleTimeoutMs <= 0 || this.ended) return;
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.log.warning(`Client ${this.peer} idle for ${this.ctx.idleTimeoutMs / 1000} s: finishing its call`);
      this.end();
    }, this.ctx.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

/** Where a leg's segments end when its protocol has no way back (AudioSocket). */
function nullSink(): Writable {
  return new Writable({ objectMode: true, write: (_c, _e, done) => done() });
}
