import type { Logger } from '../server/logger.js';
import type { EslClient } from './esl-client.js';
import type { TranscriptLine } from './transcript-lines.js';
import type { Leg, StoredLine, TranscriptStore } from './transcript-store.js';

/** Who a call is. */
export interface CallInfo {
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
}

/** Why a call's transcription stops. */
export type StopReason = 'hangup' | 'record-stop' | 'shutdown';

/** One call the bridge transcribes, whichever way its audio is captured (`uuid_record`, `uuid_audio_stream`). */
export interface BridgeCall {
  readonly call: CallInfo;
  readonly started: Date;
  /** The legs being transcribed: `mixed`, or `caller` and `callee`. */
  readonly legNames: readonly Leg[];
  /** Resolves when the call's last line is stored (or it was given up: see {@link failure}). */
  readonly done: Promise<void>;
  /** Why the call could not be transcribed to its end; null when all went well. */
  readonly failure: Error | null;
  start(): Promise<void>;
  stop(reason: StopReason): Promise<void>;
}

/** Where a call's lines go. */
export interface LineSink {
  readonly esl: EslClient;
  readonly store: TranscriptStore;
  readonly log: Logger;
  /** Send each line back into FreeSWITCH as a `CUSTOM asr::transcript` event. */
  readonly sendEvents?: boolean;
  /** Each line, as stored. */
  readonly onLine?: (line: StoredLine) => void;
}

/** Stores one line of a call's leg (the transcript store, the log, the hook, `asr::transcript` when asked). */
export function storeLine(sink: LineSink, call: CallInfo, started: Date, leg: Leg, l: TranscriptLine): void {
  const line: StoredLine = {
    call_uuid: call.uuid,
    leg,
    caller: call.caller,
    callee: call.callee,
    start_ms: l.startMs,
    end_ms: l.endMs,
    text: l.text,
    received_at: new Date().toISOString(),
    call_started_at: started.toISOString(),
  };
  sink.store.append(line);
  sink.log.info(`${call.uuid} ${leg} ${l.startMs} ${l.endMs}${l.text.startsWith(' ') ? '' : ' '}${l.text}`);
  sink.onLine?.(line);
  if (sink.sendEvents && sink.esl.connected) {
    sink.esl
      .sendEvent('CUSTOM', { 'Event-Subclass': 'asr::transcript', 'Unique-ID': call.uuid, 'ASR-Leg': leg, 'ASR-Start-Ms': String(l.startMs), 'ASR-End-Ms': String(l.endMs) }, l.text.trim())
      .catch((e: Error) => sink.log.warning(`sendevent asr::transcript: ${e.message}`));
  }
}
