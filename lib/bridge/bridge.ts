import { InvalidOptionError, SimulstreamError } from '../errors.js';
import { silentLogger, withContext, type Logger } from '../server/logger.js';
import { AUDIO_STREAM_EVENTS, AudioStreamCall } from './audio-stream-call.js';
import type { BridgeCall, CallInfo } from './bridge-call.js';
import { CallTranscriber, type CallOptions } from './call-transcriber.js';
import { EslClient, type EslClientOptions } from './esl-client.js';
import type { EslEvent } from './esl-event.js';
import type { BridgeObserver } from './observer.js';
import { fanOut } from '../util/fan-out.js';
import type { Recognizer } from './recognizer.js';
import { TranscriptStore, type StoredLine } from './transcript-store.js';
import { checkOptionKeys, type MissingKeys } from '../util/option-keys.js';

/** What {@link createBridge} connects to (FreeSWITCH's event socket, the recognizer) and how it captures and stores calls. */
export interface BridgeOptions extends Omit<EslClientOptions, 'events'> {
  /** Where each leg's audio is transcribed (with `record`): a SimulStreaming-protocol server, or several, or the embedded model. */
  readonly recognizer: Recognizer;
  /** Where each call's transcript is stored (`<uuid>.jsonl`). */
  readonly outDir: string;
  /** Where the bridge logs calls, reconnections and failures (default: silent). */
  readonly logger?: Logger;
  /** With `record`: where recordings are written, on FreeSWITCH's side of the file system. Default `/tmp`. */
  readonly recordDir?: string;
  /**
   * `mixed` (both parties in one transcript) or `both` (caller and callee separately). Default
   * `mixed` with `record`, `both` with `audio_stream`.
   */
  readonly legs?: 'mixed' | 'both';
  /** With `record`: the recordings' rate in Hz, 16000 (FreeSWITCH resamples; default) or 8000 (the codec's; the bridge resamples). */
  readonly recordRate?: 16000 | 8000;
  /** With `record`: keep the raw recordings after the call (default: deleted). */
  readonly keepAudio?: boolean;
  /** Send each line back into FreeSWITCH as a `CUSTOM asr::transcript` event. */
  readonly sendEvents?: boolean;
  /** With `auto`: which answered channels are transcribed, by `Call-Direction`. Default `inbound`. */
  readonly direction?: 'inbound' | 'outbound' | 'any';
  /** Called with every line once it is appended to its call's transcript. */
  readonly onLine?: (line: StoredLine) => void;
  /** Told what happens to calls (metrics, the live page); one that throws is logged and ignored. */
  readonly observers?: readonly BridgeObserver[];
  /** When the recognizer connection drops mid-call: backoff (first delay, cap; milliseconds) before reconnecting. Default 250, 5000. */
  readonly recognizerBackoffMs?: readonly [number, number];
  /** Reconnection attempts in a row without a new line before a leg is given up. Default 8. */
  readonly recognizerAttempts?: number;
  /**
   * How a call's audio reaches the recognizer: `record` (default: `uuid_record` to a raw file the
   * bridge follows) or `audio_stream` (`uuid_audio_stream` to the server's WebSocket port,
   * transcripts back as `mod_audio_stream::json` events: no audio on disk).
   */
  readonly capture?: 'record' | 'audio_stream';
  /** With `audio_stream`: the server's WebSocket port as FreeSWITCH reaches it (`ws://host:port`). */
  readonly streamUrl?: string;
  /** With `audio_stream`: the server's `--ws-token`. */
  readonly streamToken?: string;
}

/** Every key of {@link BridgeOptions}, at run time. */
const BRIDGE_OPTION_KEYS = [
  'host', 'port', 'password', 'format', 'reconnect', 'backoffMs', 'timeout',
  'recognizer', 'outDir', 'logger', 'recordDir', 'legs', 'recordRate', 'keepAudio', 'sendEvents', 'direction', 'onLine', 'observers',
  'recognizerBackoffMs', 'recognizerAttempts', 'capture', 'streamUrl', 'streamToken',
] as const satisfies readonly (keyof BridgeOptions)[];

/** A bridge made by {@link createBridge}: nothing happens until {@link Bridge.connect}. */
export interface Bridge {
  /**
   * Connects to FreeSWITCH (and reconnects while it restarts); with `retry`, also waits (with
   * backoff) for one that is not up yet at start.
   */
  connect(opts?: { readonly retry?: boolean }): Promise<void>;
  /** Transcribes one call until it hangs up. */
  transcribeCall(uuid: string): Promise<BridgeCall>;
  /** Transcribes every answered call from now on (and those already up). */
  auto(): Promise<void>;
  /** Places a test call with `originate` and transcribes it. */
  testCall(destination: string): Promise<BridgeCall>;
  /** Calls being transcribed now. */
  readonly calls: ReadonlyMap<string, BridgeCall>;
  /** The connection to FreeSWITCH's event socket (its `api` commands, its events). */
  readonly esl: EslClient;
  /** Stops every call's transcription (final lines stored), logs out. */
  close(): Promise<void>;
}

const EVENTS = ['CHANNEL_ANSWER', 'CHANNEL_HANGUP_COMPLETE', 'RECORD_STOP'];

/**
 * The FreeSWITCH bridge: for each call, `uuid_record` to a raw file, follow it, stream it to the
 * recognizer, store the lines. Survives FreeSWITCH restarts: calls keep streaming from their files
 * while the event socket is down; on reconnection, calls that ended meanwhile are finished and (in
 * auto mode) calls answered meanwhile are picked up.
 */
export function createBridge(opts: BridgeOptions): Bridge {
  checkOptionKeys<MissingKeys<BridgeOptions, typeof BRIDGE_OPTION_KEYS>>(opts, BRIDGE_OPTION_KEYS, 'createBridge');
  const log = opts.logger ?? silentLogger;
  const streamed = opts.capture === 'audio_stream';
  if (opts.capture !== undefined && opts.capture !== 'record' && !streamed) throw new InvalidOptionError('--capture', `must be record or audio_stream, got ${String(opts.capture)}`);
  if (streamed && !/^wss?:\/\/[^/\s]+/.test(opts.streamUrl ?? '')) {
    throw new InvalidOptionError('--ws-url', `with --capture audio_stream: the server's WebSocket port as FreeSWITCH reaches it, e.g. ws://10.0.0.5:43008 (got ${JSON.stringify(opts.streamUrl ?? '')})`);
  }
  const { capture: _c, streamUrl: _u, streamToken: _t, ...eslOptions } = opts;
  const esl = new EslClient({ ...eslOptions, events: streamed ? [...EVENTS, ...AUDIO_STREAM_EVENTS] : EVENTS });
  const store = new TranscriptStore(opts.outDir);
  const calls = new Map<string, BridgeCall>();
  const finished = new Set<string>();
  let automatic = false;
  const observers = opts.observers ?? [];
  const tell = fanOut<BridgeObserver>(observers, log);
  const onLine = (line: StoredLine): void => {
    tell('lineStored', line);
    opts.onLine?.(line);
  };
  const callOptions: CallOptions = {
    esl,
    recognizer: opts.recognizer,
    store,
    log,
    ...(opts.recordDir ? { recordDir: opts.recordDir } : {}),
    ...(opts.legs ? { legs: opts.legs } : {}),
    ...(opts.recordRate ? { recordRate: opts.recordRate } : {}),
    ...(opts.keepAudio ? { keepAudio: true } : {}),
    ...(opts.sendEvents ? { sendEvents: true } : {}),
    ...(opts.onLine || observers.length > 0 ? { onLine } : {}),
    ...(opts.recognizerBackoffMs ? { recognizerBackoffMs: opts.recognizerBackoffMs } : {}),
    ...(opts.recognizerAttempts ? { recognizerAttempts: opts.recognizerAttempts } : {}),
    onRecognizerReconnect: () => tell('reconnected', 'recognizer'),
  };

  async function begin(info: CallInfo): Promise<BridgeCall> {
    const existing = calls.get(info.uuid);
    if (existing) return existing;
    const callLog = withContext(log, { call_uuid: info.uuid });
    const call: BridgeCall = streamed
      ? new AudioStreamCall(info, {
          ...callOptions,
          log: callLog,
          streamUrl: opts.streamUrl!,
          ...(opts.streamToken ? { streamToken: opts.streamToken } : {}),
          legs: opts.legs ?? 'both',
        })
      : new CallTranscriber(info, { ...callOptions, log: callLog });
    calls.set(info.uuid, call);
    try {
      await call.start();
    } catch (err) {
      calls.delete(info.uuid);
      await call.stop('shutdown');
      tell('callEnded', call, errorInfo(err));
      throw err;
    }
    tell('callStarted', call);
    void call.done.then(() => {
      calls.delete(info.uuid);
      tell('callEnded', call, call.failure ? errorInfo(call.failure) : undefined);
      finished.add(info.uuid);
      log.info(`call ${info.uuid}: transcript in ${store.fileFor(info.uuid)}`);
    });
    return call;
  }

  const infoFrom = (h: Readonly<Record<string, string>>): CallInfo => ({
    uuid: h['Unique-ID'] ?? h.uuid ?? '',
    caller: h['Caller-Caller-ID-Number'] ?? h.cid_num ?? '',
    callee: h['Caller-Destination-Number'] ?? h.dest ?? '',
  });

  const wanted = (direction: string | undefined): boolean =>
    (opts.direction ?? 'inbound') === 'any' || direction === (opts.direction ?? 'inbound');

  esl.on('event', (e: EslEvent) => {
    const uuid = e.headers['Unique-ID'] ?? '';
    if (e.name === 'CHANNEL_ANSWER' && automatic && wanted(e.headers['Call-Direction']) && !calls.has(uuid) && !finished.has(uuid)) {
      begin(infoFrom(e.headers)).catch((err: Error) => log.error(`call ${uuid}: ${err.message}`));
    } else if (e.name === 'CHANNEL_HANGUP_COMPLETE') {
      void calls.get(uuid)?.stop('hangup');
    } else if (e.name === 'RECORD_STOP') {
      const call = calls.get(uuid);
      if (call instanceof CallTranscriber) call.recordStopped(e.headers['Record-File-Path'] ?? '');
    } else if (e.name === 'CUSTOM' && streamed) {
      const call = calls.get(uuid);
      if (!(call instanceof AudioStreamCall)) return;
      const subclass = e.headers['Event-Subclass'];
      if (subclass === 'mod_audio_stream::json') call.message(e.body);
      else if (subclass === 'mod_audio_stream::disconnect') call.disconnected(e.body);
      else if (subclass === 'mod_audio_stream::error') call.streamFailed(e.body);
    }
  });

  esl.on('warning', (m) => log.warning(`FreeSWITCH event socket: ${m}`));
  esl.on('retry', ({ error, delayMs }) => {
    if (error.code === 'ERR_ESL_AUTH') log.error(`FreeSWITCH refused the login: ${error.message}; retrying in ${delayMs / 1000} s`);
    else if (!esl.connectedOnce) log.warning(`FreeSWITCH is not up yet (${error.message}); retrying in ${delayMs / 1000} s`);
    else log.warning(`cannot reconnect to FreeSWITCH: ${error.message}; retrying in ${delayMs / 1000} s`);
  });
  esl.on('disconnected', () => log.warning(`FreeSWITCH event socket at ${esl.host}:${esl.port} closed; ${calls.size} call(s) keep streaming; reconnecting`));
  esl.on('ready', ({ reconnected }) => {
    if (!reconnected) return;
    log.info(`reconnected to FreeSWITCH at ${esl.host}:${esl.port}`);
    tell('reconnected', 'freeswitch');
    void resync().catch((err: Error) => log.error(`after reconnecting: ${err.message}`));
  });

  /** After a reconnection: finish calls that ended while we were away; pick up new ones. */
  async function resync(): Promise<void> {
    for (const [uuid, call] of calls) {
      const exists = (await esl.api(`uuid_exists ${uuid}`)).trim();
      if (exists !== 'true') void call.stop('hangup');
    }
    if (automatic) await pickUpRunningCalls();
  }

  async function pickUpRunningCalls(): Promise<void> {
    const text = await esl.api('show channels as json');
    let rows: Record<string, string>[];
    try {
      // no channel at all: {"row_count":0}
      rows = (JSON.parse(text) as { rows?: Record<string, string>[] }).rows ?? [];
    } catch (err) {
      // the calls already up would be missed: the caller is told (auto() rejects; a resync logs it)
      throw new SimulstreamError('ERR_ESL_COMMAND', `show channels as json did not answer JSON: ${text.trim().slice(0, 200)}`, { cause: err });
    }
    for (const r of rows) {
      if (r.callstate !== 'ACTIVE' || !wanted(r.direction) || calls.has(r.uuid ?? '') || finished.has(r.uuid ?? '')) continue;
      await begin(infoFrom(r)).catch((err: Error) => log.error(`call ${r.uuid}: ${err.message}`));
    }
  }

  return {
    esl,
    calls,
    connect: (o) => esl.connect(o),
    async transcribeCall(uuid) {
      const exists = (await esl.api(`uuid_exists ${uuid}`)).trim();
      if (exists !== 'true') throw new SimulstreamError('ERR_ESL_COMMAND', `no call ${uuid} on FreeSWITCH`);
      const cid = (await esl.api(`uuid_getvar ${uuid} caller_id_number`)).trim();
      const dest = (await esl.api(`uuid_getvar ${uuid} destination_number`)).trim();
      const clean = (v: string): string => (v === '_undef_' || v.startsWith('-ERR') ? '' : v);
      return begin({ uuid, caller: clean(cid), callee: clean(dest) });
    },
    async auto() {
      automatic = true;
      await pickUpRunningCalls();
    },
    async testCall(destination) {
      const reply = (await esl.bgapi(`originate {origination_caller_id_number=simulstream-test}${destination} &park()`)).trim();
      const m = /^\+OK (\S+)/.exec(reply);
      if (!m) throw new SimulstreamError('ERR_ESL_COMMAND', `originate ${destination}: ${reply}`);
      return begin({ uuid: m[1]!, caller: 'simulstream-test', callee: destination });
    },
    async close() {
      await Promise.all([...calls.values()].map((c) => c.stop('shutdown')));
      await esl.close();
    },
  };
}

/** An error as observers see it: its stable code (`ERR_INTERNAL` for a foreign error) and message. */
function errorInfo(err: unknown): { code: string; message: string } {
  return {
    code: err instanceof SimulstreamError ? err.code : 'ERR_INTERNAL',
    message: err instanceof Error ? err.message : String(err),
  };
}
