import { SimulstreamError } from '../errors.js';
import { storeLine, type BridgeCall, type CallInfo, type LineSink, type StopReason } from './bridge-call.js';
import type { Leg } from './transcript-store.js';

export interface AudioStreamCallOptions extends LineSink {
  /** The server's WebSocket port as FreeSWITCH reaches it: `ws://host:port` (its `/audio_stream` path is added). */
  readonly streamUrl: string;
  /** The server's `--ws-token`, sent as `Authorization: Bearer …` (`STREAM_EXTRA_HEADERS`). */
  readonly streamToken?: string;
  /** `both` (default): stereo, the caller (left) and the callee (right) transcribed apart; `mixed`: both in one stream. */
  readonly legs?: 'mixed' | 'both';
}

/** The FreeSWITCH events this capture needs (`CUSTOM` and its subclasses). */
export const AUDIO_STREAM_EVENTS = ['CUSTOM', 'mod_audio_stream::json', 'mod_audio_stream::disconnect', 'mod_audio_stream::error'] as const;

/** A JSON argument of an ESL command: one word (FreeSWITCH splits arguments on spaces), still valid JSON. */
function oneWordJson(value: unknown): string {
  return JSON.stringify(value).replace(/ /g, '\\u0020');
}

/**
 * One call captured with mod_audio_stream: `uuid_audio_stream <uuid> start
 * ws://<server>/audio_stream?mix=stereo&rate=16000 stereo 16k <metadata>` makes FreeSWITCH stream
 * the call to `simulstream serve --ws-port` (no audio on the FreeSWITCH host); every transcription
 * the server sends back comes as a `CUSTOM mod_audio_stream::json` event on the channel, and is
 * stored here as the recorded capture stores its lines. FreeSWITCH closes the stream when the
 * call hangs up: the final pass's lines after that reach only the server's own `--out-dir`.
 */
export class AudioStreamCall implements BridgeCall {
  readonly started = new Date();
  readonly done: Promise<void>;
  failure: Error | null = null;
  private stopped = false;
  private resolveDone!: () => void;
  private lines = 0;

  constructor(
    readonly call: CallInfo,
    private readonly opts: AudioStreamCallOptions,
  ) {
    this.done = new Promise<void>((r) => (this.resolveDone = r));
  }

  get legNames(): Leg[] {
    return this.opts.legs === 'mixed' ? ['mixed'] : ['caller', 'callee'];
  }

  async start(): Promise<void> {
    const { esl, log } = this.opts;
    const uuid = this.call.uuid;
    const mix = this.opts.legs === 'mixed' ? 'mixed' : 'stereo';
    const url = `${this.opts.streamUrl.replace(/\/+$/, '')}/audio_stream?mix=${mix}&rate=16000`;
    if (this.opts.streamToken) await this.opts.esl.apiOrFail(`uuid_setvar ${uuid} STREAM_EXTRA_HEADERS ${oneWordJson({ Authorization: `Bearer ${this.opts.streamToken}` })}`);
    const metadata = oneWordJson({ uuid, caller: this.call.caller, callee: this.call.callee });
    const reply = await esl.api(`uuid_audio_stream ${uuid} start ${url} ${mix} 16k ${metadata}`);
    if (!reply.startsWith('+OK')) throw new SimulstreamError('ERR_ESL_COMMAND', `uuid_audio_stream ${uuid} start ${url}: ${reply.trim()}`);
    log.info(`call ${uuid} (${this.call.caller} → ${this.call.callee}): streaming ${mix} 16 kHz to ${url}`);
  }

  /** The body of a `mod_audio_stream::json` event of this call: a transcription is stored; an error is logged. */
  message(body: string): void {
    let m: unknown;
    try {
      m = JSON.parse(body);
    } catch {
      this.opts.log.warning(`call ${this.call.uuid}: a mod_audio_stream message that is not JSON was skipped: ${body.slice(0, 80)}`);
      return;
    }
    const o = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    if (o.type === 'error') {
      this.opts.log.error(`call ${this.call.uuid}: the server reports ${String(o.code)}: ${String(o.message)}`);
      return;
    }
    const leg = o.leg;
    if (o.type !== 'transcription' || typeof o.text !== 'string' || typeof o.start_ms !== 'number' || typeof o.end_ms !== 'number' || (leg !== 'caller' && leg !== 'callee' && leg !== 'mixed')) {
      this.opts.log.warning(`call ${this.call.uuid}: a mod_audio_stream message that is not a transcription was skipped: ${body.slice(0, 80)}`);
      return;
    }
    this.lines++;
    storeLine(this.opts, this.call, this.started, leg, { startMs: o.start_ms, endMs: o.end_ms, text: o.text });
  }

  /** `mod_audio_stream::error`: the stream could not connect or broke. */
  streamFailed(body: string): void {
    this.failure ??= new SimulstreamError('ERR_RECOGNIZER', `mod_audio_stream: ${body.trim()}`);
    this.opts.log.error(`call ${this.call.uuid}: ${this.failure.message}`);
    this.finish();
  }

  /** `mod_audio_stream::disconnect`: the stream closed (the call hung up, or the server closed it). */
  disconnected(body: string): void {
    this.opts.log.info(`call ${this.call.uuid}: the stream closed after ${this.lines} line(s): ${body.trim()}`);
    this.finish();
  }

  async stop(reason: StopReason): Promise<void> {
    if (!this.stopped && reason !== 'hangup' && this.opts.esl.connected) {
      this.stopped = true;
      await this.opts.esl.api(`uuid_audio_stream ${this.call.uuid} stop`).catch((e: Error) => this.opts.log.warning(`uuid_audio_stream stop: ${e.message}`));
    }
    this.finish();
    return this.done;
  }

  private finish(): void {
    this.stopped = true;
    this.resolveDone();
  }
}
