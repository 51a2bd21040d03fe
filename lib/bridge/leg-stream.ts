import net from 'node:net';
import { PassThrough, type Duplex, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SimulstreamError } from '../errors.js';
import type { Logger } from '../server/logger.js';
import { FileFollower } from './file-follower.js';
import type { Recognizer } from './recognizer.js';
import { TranscriptLineParser, type TranscriptLine } from './transcript-lines.js';
import { Upsample2x } from './upsample.js';

export interface LegStreamOptions {
  /** The recording being written (raw s16le mono at `rate`). */
  readonly file: string;
  readonly rate: 16000 | 8000;
  readonly recognizer: Recognizer;
  readonly log: Logger;
  /** How log lines name this leg (`call <uuid> mixed`). */
  readonly label: string;
  /** Each new line, in the call's clock: monotonic, none repeated. */
  readonly onLine: (line: TranscriptLine) => void;
  /** Reconnection backoff: first delay and cap, ms. Default 250 and 5000. */
  readonly backoffMs?: readonly [number, number];
  /** Attempts in a row that bring no new line (refused, or dropped again) before the leg is given up. Default 8. */
  readonly maxAttempts?: number;
  /** How often the follower looks for new audio, ms. Default 20. */
  readonly pollMs?: number;
  /** Told each time a dropped recognizer connection was opened again (metrics). */
  readonly onReconnect?: () => void;
}

type Outcome = { readonly complete: true } | { readonly complete: false; readonly error: Error };

/**
 * One leg of a call, streamed to the recognizer from its growing recording, surviving the
 * recognizer: when its connection drops mid-call (a server restarted, one box of several gone),
 * the leg reconnects with backoff (the recognizer picks the same or the next server) and resumes
 * from the first audio not covered by a line already given, shifting the new stream's times into
 * the call's clock and dropping lines it already has. `run()` rejects when the leg had to be given up.
 */
export class LegStream {
  private stopping = false;
  private follower: FileFollower | null = null;
  /** End (ms, call clock) of the last line given; -1 before any. */
  private lastEnd = -1;
  private lines = 0;
  /** Recognizer connections opened after the first. */
  reconnections = 0;

  constructor(private readonly opts: LegStreamOptions) {}

  /** The recording's position reached (bytes). */
  get bytesRead(): number {
    return this.follower?.bytesRead ?? 0;
  }

  /** The recording stopped: send what is left of it, then finish. */
  stop(): void {
    this.stopping = true;
    this.follower?.stop();
  }

  /** Streams the leg to its end; `first` is a recognizer connection already open. */
  async run(first: Duplex): Promise<void> {
    const { log, label, recognizer } = this.opts;
    const [firstDelay, maxDelay] = this.opts.backoffMs ?? [250, 5000];
    const maxAttempts = this.opts.maxAttempts ?? 8;
    let rec: Duplex | null = first;
    let offsetMs = 0;
    let failures = 0;
    let delay = firstDelay;
    const giveUp = (why: string): never => {
      throw new SimulstreamError('ERR_RECOGNIZER', `gave up after ${failures} attempt(s) in a row: ${why}`);
    };
    for (;;) {
      if (!rec) {
        try {
          rec = await recognizer.open();
          this.reconnections++;
          this.opts.onReconnect?.();
          log.info(`${label}: reconnected to ${nameOf(rec, recognizer)}, resuming from ${offsetMs} ms`);
        } catch (err) {
          failures++;
          if (failures >= maxAttempts) giveUp((err as Error).message);
          log.warning(`${label}: ${(err as Error).message}; retrying in ${delay / 1000} s`);
          await sleep(delay);
          delay = Math.min(delay * 2, maxDelay);
          continue;
        }
      }
      const before = this.lines;
      const outcome = await this.attempt(rec, offsetMs);
      rec = null;
      if (outcome.complete) return;
      if (this.lines > before) {
        failures = 0;
        delay = firstDelay;
      }
      failures++;
      if (failures >= maxAttempts) giveUp(outcome.error.message);
      // resume from the first audio not covered by a line already stored
      offsetMs = Math.max(0, this.lastEnd);
      log.warning(`${label}: the recognizer connection dropped (${outcome.error.message}); reconnecting in ${delay / 1000} s, resuming from ${offsetMs} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  /** One recognizer connection, from `offsetMs` of the recording on. */
  private async attempt(rec: Duplex, offsetMs: number): Promise<Outcome> {
    const { rate, file, log, label } = this.opts;
    const follower = new FileFollower(file, this.opts.pollMs ?? 20, Math.floor((offsetMs * rate) / 1000) * 2);
    this.follower = follower;
    if (this.stopping) follower.stop();
    const parser = new TranscriptLineParser();
    parser.on('warning', (w: Error) => log.warning(`${label}: ${w.message}`));
    parser.on('data', (l: TranscriptLine) => this.take(l, offsetMs));
    const resample: Transform = rate === 8000 ? new Upsample2x() : new PassThrough();
    const abort = new AbortController();
    let dropped: Error | null = null;
    // the first stream to fail is where the failure is (pipeline then fails the others with it)
    const origin: { at: 'file' | 'other' | null } = { at: null };
    follower.once('error', () => (origin.at ??= 'file'));
    for (const s of [resample, rec, parser]) s.once('error', () => (origin.at ??= 'other'));
    // the recognizer ended its side before we ended ours (perhaps before this attempt began): it went away mid-call
    const gone = (): void => {
      if (rec.writableEnded || dropped) return;
      origin.at ??= 'other';
      dropped = new Error(`${nameOf(rec, this.opts.recognizer)} closed the stream before the end of the call`);
      abort.abort();
    };
    if (rec.readableEnded) {
      origin.at = 'other';
      gone();
    }
    else rec.once('end', gone);
    try {
      await pipeline(follower, resample, rec, parser, { signal: abort.signal });
    } catch (err) {
      if (origin.at === 'file' && !dropped) throw err;
      return { complete: false, error: dropped ?? (err as Error) };
    } finally {
      if (!rec.destroyed) rec.destroy();
    }
    return dropped ? { complete: false, error: dropped } : { complete: true };
  }

  /** A line of the stream that started at `offsetMs` → the call's clock; a line already covered is dropped. */
  private take(l: TranscriptLine, offsetMs: number): void {
    const endMs = l.endMs + offsetMs;
    if (endMs <= this.lastEnd) return;
    const startMs = Math.min(endMs, Math.max(l.startMs + offsetMs, this.lastEnd + 1));
    this.lastEnd = endMs;
    this.lines++;
    this.opts.onLine({ startMs, endMs, text: l.text });
  }
}

function nameOf(rec: Duplex, recognizer: Recognizer): string {
  return rec instanceof net.Socket && rec.remotePort !== undefined ? `${rec.remoteAddress}:${rec.remotePort}` : recognizer.name;
}
