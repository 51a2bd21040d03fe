import { SimulstreamError } from '../errors.js';
import { silentLogger, withContext, type Logger } from '../server/logger.js';
import { CallTranscriber, type CallInfo, type CallOptions } from './call-transcriber.js';
import { EslClient, type EslClientOptions } from './esl-client.js';
import type { EslEvent } from './esl-event.js';
import type { BridgeObserver } from './observer.js';
import type { Recognizer } from './recognizer.js';
import { TranscriptStore, type StoredLine } from './transcript-store.js';
import { checkOptionKeys, type MissingKeys } from '../util/option-keys.js';

export interface BridgeOptions extends Omit<EslClientOptions, 'events'> {
  readonly recognizer: Recognizer;
  /** Where each call's transcript is stored (`<uuid>.jsonl`). */
  readonly outDir: string;
  readonly logger?: Logger;
  readonly recordDir?: string;
  readonly legs?: 'mixed' | 'both';
  readonly recordRate?: 16000 | 8000;
  readonly keepAudio?: boolean;
  readonly sendEvents?: boolean;
  /** With `auto`: which answered channels are transcribed, by `Call-Direction`. Default `inbound`. */
  readonly direction?: 'inbound' | 'outbound' | 'any';
  readonly onLine?: (line: StoredLine) => void;
  /** Told what happens to calls (metrics, the live page); one that throws is logged and ignored. */
  readonly observers?: readonly BridgeObserver[];
  /** See {@link CallOptions.recognizerBackoffMs}. */
  readonly recognizerBackoffMs?: readonly [number, number];
  /** See {@link CallOptions.recognizerAttempts}. */
  readonly recognizerAttempts?: number;
}

/** Every key of {@link BridgeOptions}, at run time. */
const BRIDGE_OPTION_KEYS = [
  'host', 'port', 'password', 'format', 'reconnect', 'backoffMs', 'timeout',
  'recognizer', 'outDir', 'logger', 'recordDir', 'legs', 'recordRate', 'keepAudio', 'sendEvents', 'direction', 'onLine', 'observers',
  'recognizerBackoffMs', 'recognizerAttempts',
] as const satisfies readonly (keyof BridgeOptions)[];

export interface Bridge {
  /**
   * Connects to FreeSWITCH (and reconnects while it restarts); with `retry`, also waits (with
   * backoff) for one that is not up yet at start.
   */
  connect(opts?: { readonly retry?: boolean }): Promise<void>;
  /** Transcribes one call until it hangs up. */
  transcribeCall(uuid: string): Promise<CallTranscriber>;
  /** Transcribes every answered call from now on (and those already up). */
  auto(): Promise<void>;
  /** Places a test call with `originate` and transcribes it. */
  testCall(destination: string): Promise<CallTranscriber>;
  /** Calls being transcribed now. */
  readonly calls: ReadonlyMap<string, CallTranscriber>;
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
  const esl = new EslClient({ ...opts, events: EVENTS });
  const store = new TranscriptStore(opts.outDir);
  const calls = new Map<string, CallTranscriber>();
  const finished = new Set<string>();
  let automatic = false;
  const observers = opts.observers ?? [];
  const observe = (tell: (o: BridgeObserver) => void): void => {
    for (const o of observers) {
      try {
        tell(o);
      } catch (err) {
        log.error(`observer: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  const onLine = (line: StoredLine): void => {
    observe((o) => o.lineStored?.(line));
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
    onRecognizerReconnect: () => observe((o) => o.reconnected?.('recognizer')),
  };

  async function begin(info: CallInfo): Promise<CallTranscriber> {
    const existing = calls.get(info.uuid);
    if (existing) return existing;
    const call = new CallTranscriber(info, { ...callOptions, log: withContext(log, { call_uuid: info.uuid }) });
    calls.set(info.uuid, call);
    try {
      await call.start();
    } catch (err) {
      calls.delete(info.uuid);
      await call.stop('shutdown');
      observe((o) => o.callEnded?.(call, errorInfo(err)));
      throw err;
    }
    observe((o) => o.callStarted?.(call));
    void call.done.then(() => {
      calls.delete(info.uuid);
      observe((o) => o.callEnded?.(call, call.failure ? errorInfo(call.failure) : undefined));
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
      calls.get(uuid)?.recordStopped(e.headers['Record-File-Path'] ?? '');
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
    observe((o) => o.reconnected?.('freeswitch'));
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
