import { Transform, type TransformCallback } from 'node:stream';
import type { AlignAttSession, AlignAttUpdate } from '../decode/align-att.js';
import { DEFAULTS } from '../defaults.js';
import type { AudioChunk } from './chunk-buffer.js';

/** An update of the policy with the time it was out. */
export interface EmittedUpdate extends AlignAttUpdate {
  /**
   * When the update is out, in the audio's clock (seconds), as if the audio arrived in real time:
   * the chunk's arrival (or the previous update's emission, if later) plus the compute; a chunk's
   * own `at` (SimulStreaming's computation-unaware file mode) replaces it.
   */
  readonly emitted: number;
}

/** Options of the {@link AlignAttDecoder} stage. */
export interface AlignAttDecoderOptions {
  /**
   * Asked when several chunks are waiting: `true` runs them as one iteration, so a stream that
   * fell behind real time (the machine is overloaded) catches up instead of lagging more and more.
   * Without it every chunk is its own iteration, and the output never depends on timing.
   */
  readonly catchUp?: () => boolean;
  /**
   * Our difference from SimulStreaming's server: the end of the stream runs the final pass
   * (frame threshold 4, nothing held back), so the last words are not lost. Default true; without
   * it the last chunk is an ordinary iteration.
   */
  readonly finalPass?: boolean;
  /** Told about every update (metrics, monitoring), before it is passed on. */
  readonly onUpdate?: (update: EmittedUpdate) => void;
}

/**
 * Audio chunks → the policy's updates (one per iteration, possibly without tokens), each stamped
 * with its emission time. The chunk marked `last` (or `utteranceEnd`) runs the final pass; a stream
 * that ends without one runs it on nothing. An update waits for its reader before the next
 * iteration runs, so a client that does not read holds its decoding back.
 */
export class AlignAttDecoder extends Transform {
  private finished = false;
  private readonly catchUp: (() => boolean) | undefined;
  private readonly finalPass: boolean;
  private readonly onUpdate: ((u: EmittedUpdate) => void) | undefined;
  /** The emission clock (seconds of the stream's audio clock). */
  private clock = 0;
  private reader: (() => void) | null = null;
  /** Iterations that ran several chunks at once (catching up). */
  merged = 0;

  constructor(
    /** The stream's policy state. */
    readonly session: AlignAttSession,
    opts: AlignAttDecoderOptions = {},
  ) {
    // with catch-up, a few chunks may wait here so that they can be merged
    super({ objectMode: true, highWaterMark: opts.catchUp ? 8 : 1 });
    this.catchUp = opts.catchUp;
    this.finalPass = opts.finalPass ?? DEFAULTS.finalPass;
    this.onUpdate = opts.onUpdate;
  }

  /** @internal */
  override _transform(chunk: AudioChunk, _enc: BufferEncoding, done: TransformCallback): void {
    this.handle(chunk).then(() => done(), done);
  }

  /** @internal */
  override _writev(chunks: { chunk: AudioChunk }[], done: (err?: Error | null) => void): void {
    const list = chunks.map((c) => c.chunk);
    const groups = this.catchUp?.() ? mergeable(list) : list.map((c) => [c]);
    void (async () => {
      for (const g of groups) {
        if (g.length > 1) this.merged++;
        await this.handle(g.length === 1 ? g[0]! : merge(g));
      }
    })().then(() => done(), done);
  }

  /** @internal */
  override _read(size: number): void {
    const r = this.reader;
    this.reader = null;
    r?.();
    super._read(size);
  }

  /** @internal */
  override _flush(done: TransformCallback): void {
    if (this.finished || !this.finalPass) {
      done();
      return;
    }
    this.finished = true;
    this.session.finish().then((u) => done(null, this.stamp(u, undefined)), done);
  }

  /** @internal */
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.reader?.();
    done(err);
  }

  private async handle(chunk: AudioChunk): Promise<void> {
    if (this.finished || this.destroyed) return;
    if (chunk.gap) this.session.skip(chunk.gap);
    if (chunk.last) this.finished = true;
    if (chunk.last && chunk.samples.length === 0 && (this.session.bufferSeconds === 0 || !this.finalPass)) return; // nothing left to decode
    const final = (chunk.last && this.finalPass) || chunk.utteranceEnd === true;
    const u = final ? await this.session.finish(chunk.samples) : await this.session.process(chunk.samples);
    // backpressure: the next iteration waits until this update is read
    if (!this.push(this.stamp(u, chunk.at)) && !this.destroyed) await new Promise<void>((r) => (this.reader = r));
  }

  private stamp(u: AlignAttUpdate, at: number | undefined): EmittedUpdate {
    this.clock = Math.max(this.clock, u.audioEnd) + u.computeMs / 1000;
    const e: EmittedUpdate = { ...u, emitted: at ?? this.clock };
    this.onUpdate?.(e);
    return e;
  }
}

/** Runs of chunks that can be one iteration: a run ends at a final chunk, and a gap starts a new one. */
function mergeable(chunks: readonly AudioChunk[]): AudioChunk[][] {
  const groups: AudioChunk[][] = [];
  let run: AudioChunk[] = [];
  for (const c of chunks) {
    if (run.length > 0 && c.gap) {
      groups.push(run);
      run = [];
    }
    run.push(c);
    if (c.last || c.utteranceEnd) {
      groups.push(run);
      run = [];
    }
  }
  if (run.length > 0) groups.push(run);
  return groups;
}

function merge(run: readonly AudioChunk[]): AudioChunk {
  const samples = new Float32Array(run.reduce((n, c) => n + c.samples.length, 0));
  let o = 0;
  for (const c of run) {
    samples.set(c.samples, o);
    o += c.samples.length;
  }
  const end = run.at(-1)!;
  return {
    samples,
    last: end.last,
    ...(end.utteranceEnd ? { utteranceEnd: true } : {}),
    ...(run[0]!.gap ? { gap: run[0]!.gap } : {}),
  };
}
