import type { Leg } from '../bridge/transcript-store.js';

/** One line of a call as the live page shows it. */
export interface MonitorLine {
  readonly leg: Leg;
  readonly start_ms: number;
  readonly end_ms: number;
  readonly text: string;
  /** When the line arrived (ISO 8601). */
  readonly received_at: string;
  /**
   * The utterance it belongs to has ended: the recognizer said so (`is_final`, when it sends it),
   * or the call has ended (then every line is final).
   */
  readonly final: boolean;
}

/** A call's whole transcript (`GET /api/calls/UUID`). */
export interface CallTranscript {
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
  /** Still being transcribed. */
  readonly live: boolean;
  readonly lines: readonly MonitorLine[];
}
