import type { BridgeCall } from './bridge-call.js';
import type { StoredLine } from './transcript-store.js';

/**
 * What the bridge tells whoever watches it (metrics, monitoring pages). Every method is optional;
 * one that throws is logged and otherwise ignored: it never breaks a call.
 */
export interface BridgeObserver {
  /** A call's transcription started (recording, recognizer connected). */
  callStarted?(call: BridgeCall): void;
  /** A call's transcription ended, every line stored: `error` is set when it failed (its start, or a leg's stream). */
  callEnded?(call: BridgeCall, error?: { readonly code: string; readonly message: string }): void;
  /** A line was stored. */
  lineStored?(line: StoredLine): void;
  /** A connection came back: FreeSWITCH's event socket, or a call's recognizer stream. */
  reconnected?(target: 'freeswitch' | 'recognizer'): void;
}
