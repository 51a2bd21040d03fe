import type { Leg, StoredLine } from '../bridge/transcript-store.js';

/** A call the bridge started transcribing. */
export interface CallStart {
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
  /** `mixed`, or `caller` and `callee` with `--legs both`. */
  readonly legs: readonly Leg[];
  readonly startedAt: Date;
}

/** A call being transcribed now, as the live page lists it. */
export interface LiveCall {
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
  readonly legs: readonly Leg[];
  /** When its transcription started (ISO 8601). */
  readonly startedAt: string;
  /** Lines received so far. */
  readonly lines: number;
  /**
   * How far the transcript trails the call, in seconds, at its last line: when the line arrived
   * minus when the audio it ends on was spoken. Null before the first line.
   */
  readonly lagSeconds: number | null;
}

/** The calls being transcribed now, fed by the bridge's hooks. Holds one small record per live call. */
export class LiveCalls {
  private readonly calls = new Map<string, LiveCall>();

  start(c: CallStart): LiveCall {
    const call: LiveCall = { uuid: c.uuid, caller: c.caller, callee: c.callee, legs: [...c.legs], startedAt: c.startedAt.toISOString(), lines: 0, lagSeconds: null };
    this.calls.set(c.uuid, call);
    return call;
  }

  /**
   * Counts a line and updates the lag (`lagSeconds` when the caller measured it, else from the
   * line's times); a line of a call never started is taken as its start.
   */
  line(l: StoredLine, lagSeconds?: number): LiveCall {
    const before =
      this.calls.get(l.call_uuid) ??
      this.start({ uuid: l.call_uuid, caller: l.caller, callee: l.callee, legs: [l.leg], startedAt: new Date(l.call_started_at) });
    const lag = lagSeconds ?? (Date.parse(l.received_at) - Date.parse(l.call_started_at) - l.end_ms) / 1000;
    const call: LiveCall = {
      ...before,
      legs: before.legs.includes(l.leg) ? before.legs : [...before.legs, l.leg],
      lines: before.lines + 1,
      lagSeconds: Number.isFinite(lag) ? Math.round(lag * 10) / 10 : before.lagSeconds,
    };
    this.calls.set(l.call_uuid, call);
    return call;
  }

  /** Removes a call; returns it (undefined if it was not live). */
  end(uuid: string): LiveCall | undefined {
    const call = this.calls.get(uuid);
    this.calls.delete(uuid);
    return call;
  }

  get(uuid: string): LiveCall | undefined {
    return this.calls.get(uuid);
  }

  /** Oldest first. */
  list(): LiveCall[] {
    return [...this.calls.values()];
  }
}
