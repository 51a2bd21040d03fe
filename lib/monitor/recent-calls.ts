import type { MonitorLine } from './call-events.js';
import { callMatcher, normalizeText, type Searchable } from './call-search.js';
import { localDate, type DayList, type FinishedCall, type FinishedCalls } from './day-calls.js';
import type { LiveCall } from './live-calls.js';

interface Entry extends Searchable {
  readonly call: FinishedCall;
}

/**
 * The day's finished calls kept in memory, for a process without a transcript store (`serve`):
 * the newest `max` of them, searchable like {@link DayCalls}.
 */
export class RecentCalls implements FinishedCalls {
  /** Oldest first. */
  private readonly entries: Entry[] = [];

  constructor(
    private readonly max = 100,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  add(call: LiveCall, lines: readonly MonitorLine[]): void {
    const ended = this.clock();
    const words = lines.map((l) => l.text.trim()).filter(Boolean).join(' ');
    this.entries.push({
      call: {
        uuid: call.uuid,
        caller: call.caller,
        callee: call.callee,
        legs: call.legs,
        startedAt: call.startedAt,
        endedAt: ended.toISOString(),
        durationSeconds: Math.max(0, Math.round((ended.getTime() - Date.parse(call.startedAt)) / 100) / 10),
        lines: lines.length,
        preview: words.length > 160 ? `${words.slice(0, 159)}…` : words,
      },
      numbers: [call.caller, call.callee],
      text: normalizeText(words),
    });
    if (this.entries.length > this.max) this.entries.splice(0, this.entries.length - this.max);
  }

  async list(query = '', exclude: ReadonlySet<string> = new Set()): Promise<DayList> {
    const now = this.clock();
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString();
    const test = callMatcher(query);
    const hits = this.entries.filter((e) => e.call.endedAt >= midnight && !exclude.has(e.call.uuid) && test(e)).map((e) => e.call).reverse();
    return { date: localDate(now), matched: hits.length, calls: hits };
  }
}
