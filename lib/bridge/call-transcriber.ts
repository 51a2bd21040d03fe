import fs from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { SimulstreamError } from '../errors.js';
import type { Logger } from '../server/logger.js';
import type { EslClient } from './esl-client.js';
import { LegStream } from './leg-stream.js';
import type { Recognizer } from './recognizer.js';
import type { TranscriptLine } from './transcript-lines.js';
import type { Leg, StoredLine, TranscriptStore } from './transcript-store.js';
import { storeLine, type BridgeCall, type CallInfo, type StopReason } from './bridge-call.js';

export type { CallInfo } from './bridge-call.js';

export interface CallOptions {
  readonly esl: EslClient;
  readonly recognizer: Recognizer;
  readonly store: TranscriptStore;
  readonly log: Logger;
  /** Where recordings are written (FreeSWITCH's side of the file system). Default /tmp. */
  readonly recordDir?: string;
  /** `mixed` (one recording of both parties, default) or `both` (caller and callee separately). */
  readonly legs?: 'mixed' | 'both';
  /** 16000 (FreeSWITCH resamples; default) or 8000 (the codec's rate; the bridge resamples). */
  readonly recordRate?: 16000 | 8000;
  /** Keep the raw recordings after the call. */
  readonly keepAudio?: boolean;
  /** Send each line back into FreeSWITCH as a `CUSTOM asr::transcript` event. */
  readonly sendEvents?: boolean;
  /** Each line, as stored. */
  readonly onLine?: (line: StoredLine) => void;
  /** Told each time a leg's dropped recognizer connection was opened again (metrics). */
  readonly onRecognizerReconnect?: () => void;
  /** When the recognizer connection drops mid-call: backoff (first delay, cap; ms) before reconnecting. Default 250, 5000. */
  readonly recognizerBackoffMs?: readonly [number, number];
  /** Reconnection attempts in a row without a new line before a leg is given up. Default 8. */
  readonly recognizerAttempts?: number;
}

interface LegRun {
  readonly leg: Leg;
  readonly file: string;
  readonly stream: LegStream;
  readonly done: Promise<void>;
}

/**
 * One call: records it (`uuid_record` to a `.raw` file, 16 kHz, unbuffered), follows the file as
 * it grows, streams it to the recognizer, and stores every line that comes back. `stop()` ends the
 * recording; the remaining audio is sent, the final lines are stored, and the file is deleted.
 */
export class CallTranscriber implements BridgeCall {
  private legs: LegRun[] = [];
  private stopped = false;
  readonly started = new Date();
  /** Resolves when every leg's last line is stored (or the leg was given up: see {@link failure}). */
  done: Promise<void> = Promise.resolve();
  /** Why a leg could not be transcribed to its end (the recognizer stayed unreachable); null when all went well. */
  failure: Error | null = null;

  constructor(
    readonly call: CallInfo,
    private readonly opts: CallOptions,
  ) {}

  /** The legs being transcribed: `mixed`, or `caller` and `callee`. */
  get legNames(): Leg[] {
    return this.opts.legs === 'both' ? ['caller', 'callee'] : ['mixed'];
  }

  async start(): Promise<void> {
    const { esl, log } = this.opts;
    const rate = this.opts.recordRate ?? 16000;
    const uuid = this.call.uuid;
    // 16 kHz when FreeSWITCH resamples; no 64 KB write buffering, or the file grows in 2-4 s bursts
    await this.opts.esl.apiOrFail(`uuid_setvar ${uuid} record_sample_rate ${rate}`);
    await this.opts.esl.apiOrFail(`uuid_setvar ${uuid} enable_file_write_buffering false`);
    const plan: [Leg, string][] =
      this.opts.legs === 'both'
        ? [
            ['caller', '{RECORD_READ_ONLY=true}'],
            ['callee', '{RECORD_WRITE_ONLY=true}'],
          ]
        : [['mixed', '']];
    for (const [leg, vars] of plan) {
      const file = path.join(this.opts.recordDir ?? '/tmp', `fs_${uuid}${leg === 'mixed' ? '' : `_${leg}`}.raw`);
      // the recognizer first, so a recognizer that is down does not leave a recording running
      const rec = await this.opts.recognizer.open();
      const reply = await esl.api(`uuid_record ${uuid} start ${file}${vars ? ` 0 ${vars}` : ''}`);
      if (!reply.startsWith('+OK')) {
        rec.destroy();
        throw new SimulstreamError('ERR_ESL_COMMAND', `uuid_record ${uuid} start ${file}: ${reply.trim()}`);
      }
      log.info(`call ${uuid} (${this.call.caller} → ${this.call.callee}): recording ${leg} to ${file}, streaming to ${this.opts.recognizer.name}`);
      const stream = new LegStream({
        file,
        rate: rate as 16000 | 8000,
        recognizer: this.opts.recognizer,
        log,
        label: `call ${uuid} ${leg}`,
        onLine: (l) => this.store(leg, l),
        ...(this.opts.recognizerBackoffMs ? { backoffMs: this.opts.recognizerBackoffMs } : {}),
        ...(this.opts.recognizerAttempts ? { maxAttempts: this.opts.recognizerAttempts } : {}),
        ...(this.opts.onRecognizerReconnect ? { onReconnect: this.opts.onRecognizerReconnect } : {}),
      });
      this.legs.push({ leg, file, stream, done: this.run(leg, file, stream, rec) });
      this.done = Promise.all(this.legs.map((l) => l.done)).then(() => undefined);
    }
  }

  private async run(leg: Leg, file: string, stream: LegStream, rec: Duplex): Promise<void> {
    try {
      await stream.run(rec);
    } catch (err) {
      this.failure ??= err as Error;
      this.opts.log.error(`call ${this.call.uuid} ${leg}: ${(err as Error).message}`);
      // nothing reads the recording any more
      if (!this.stopped && this.opts.esl.connected) {
        await this.opts.esl.api(`uuid_record ${this.call.uuid} stop ${file}`).catch((e: Error) => this.opts.log.warning(`uuid_record stop: ${e.message}`));
      }
    } finally {
      if (!this.opts.keepAudio) await fs.promises.rm(file, { force: true });
      this.opts.log.info(`call ${this.call.uuid} ${leg}: ${stream.bytesRead} bytes of audio transcribed${this.opts.keepAudio ? `, kept in ${file}` : ''}`);
    }
  }

  private store(leg: Leg, l: TranscriptLine): void {
    storeLine(this.opts, this.call, this.started, leg, l);
  }

  /**
   * Ends the call's transcription: stops the recording (unless the call is gone), lets the
   * followers read to the end, waits for the last lines.
   */
  async stop(reason: StopReason): Promise<void> {
    if (this.stopped) return this.done;
    this.stopped = true;
    if (reason !== 'hangup' && this.opts.esl.connected) {
      for (const l of this.legs) {
        await this.opts.esl.api(`uuid_record ${this.call.uuid} stop ${l.file}`).catch((e: Error) => this.opts.log.warning(`uuid_record stop: ${e.message}`));
      }
    }
    for (const l of this.legs) l.stream.stop();
    await this.done;
  }

  /** Stops one leg whose recording FreeSWITCH reports stopped (RECORD_STOP). */
  recordStopped(file: string): void {
    this.legs.find((l) => l.file === file)?.stream.stop();
  }
}
