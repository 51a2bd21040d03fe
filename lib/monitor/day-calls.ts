import fs from 'node:fs';
import path from 'node:path';
import type { Leg, StoredLine } from '../bridge/transcript-store.js';
import { callMatcher, normalizeText, type Searchable } from './call-search.js';

/** A call of the day whose transcript is in the store, as the live page lists it. */
export interface FinishedCall {
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
  readonly legs: readonly Leg[];
  /** When its transcription started (ISO 8601). */
  readonly startedAt: string;
  /** When its last line arrived (ISO 8601). */
  readonly endedAt: string;
  readonly durationSeconds: number;
  readonly lines: number;
  /** The start of its transcript (at most 160 characters). */
  readonly preview: string;
}

export interface DayCallsOptions {
  /** The bridge's `--out-dir`. */
  readonly dir: string;
  /** Today, for tests. Default `() => new Date()`. */
  readonly clock?: () => Date;
  /** Most calls returned by one search (newest first). Default 200. */
  readonly maxResults?: number;
  /** Most transcript files of the day looked at (the newest); bounds memory on a busy day. Default 5000. */
  readonly maxFiles?: number;
}

/** Where the page's list of finished calls comes from. */
export interface FinishedCalls {
  /** The calls matching `query`, newest first, except those in `exclude` (the live ones). */
  list(query?: string, exclude?: ReadonlySet<string>): Promise<DayList>;
}

export interface DayList {
  /** The local date listed, `YYYY-MM-DD`. */
  readonly date: string;
  /** How many calls matched (`calls` holds at most `maxResults` of them). */
  readonly matched: number;
  readonly calls: readonly FinishedCall[];
}

interface Entry extends Searchable {
  readonly call: FinishedCall;
}

/**
 * The day's calls from the transcript store (`<uuid>.jsonl` files written since local midnight),
 * searchable by number and by words. A file is parsed once per change (cached on size and mtime).
 */
export class DayCalls implements FinishedCalls {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; entry: Entry | null }>();
  /** Files last written before a midnight already passed: never of the day again, never looked at again. */
  private readonly older = new Set<string>();
  private readonly clock: () => Date;
  private readonly maxResults: number;
  private readonly maxFiles: number;

  constructor(private readonly opts: DayCallsOptions) {
    this.clock = opts.clock ?? (() => new Date());
    this.maxResults = opts.maxResults ?? 200;
    this.maxFiles = opts.maxFiles ?? 5000;
  }

  /** The day's calls matching `query` (see {@link callMatcher}), newest first, except those in `exclude` (the live ones). */
  async list(query = '', exclude: ReadonlySet<string> = new Set()): Promise<DayList> {
    const now = this.clock();
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
    const names = (await fs.promises.readdir(this.opts.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    })).filter((n) => n.endsWith('.jsonl') && !this.older.has(n));
    const stats = await Promise.all(
      names.map(async (n) => {
        const file = path.join(this.opts.dir, n);
        // (a file removed since readdir is simply not listed)
        return { file, st: await fs.promises.stat(file).catch(() => null) };
      }),
    );
    for (const s of stats) if (s.st && s.st.mtimeMs < midnight) this.older.add(path.basename(s.file));
    const today = stats
      .filter((s): s is { file: string; st: fs.Stats } => s.st !== null && s.st.isFile() && s.st.mtimeMs >= midnight)
      .sort((a, b) => b.st.mtimeMs - a.st.mtimeMs)
      .slice(0, this.maxFiles);
    const keep = new Set(today.map((s) => s.file));
    for (const f of this.cache.keys()) if (!keep.has(f)) this.cache.delete(f);

    const test = callMatcher(query);
    const hits: FinishedCall[] = [];
    for (const { file, st } of today) {
      let c = this.cache.get(file);
      if (!c || c.mtimeMs !== st.mtimeMs || c.size !== st.size) {
        c = { mtimeMs: st.mtimeMs, size: st.size, entry: summarize(await fs.promises.readFile(file, 'utf8')) };
        this.cache.set(file, c);
      }
      if (c.entry && !exclude.has(c.entry.call.uuid) && test(c.entry)) hits.push(c.entry.call);
    }
    hits.sort((a, b) => b.endedAt.localeCompare(a.endedAt));
    return { date: localDate(now), matched: hits.length, calls: hits.slice(0, this.maxResults) };
  }
}

/** A call's stored lines, skipping any that are not JSON (a line cut short by a crash). */
export function parseStoredLines(text: string): StoredLine[] {
  const out: StoredLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    const v = parseJson(l);
    if (isStoredLine(v)) out.push(v);
  }
  return out;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined; // a torn line: not a line
  }
}

function isStoredLine(v: unknown): v is StoredLine {
  const o = v as Partial<StoredLine> | null | undefined;
  return typeof o === 'object' && o !== null && typeof o.call_uuid === 'string' && typeof o.text === 'string' && typeof o.received_at === 'string';
}

function summarize(text: string): Entry | null {
  const lines = parseStoredLines(text);
  const first = lines[0];
  const last = lines.at(-1);
  if (!first || !last) return null;
  const startedAt = first.call_started_at || first.received_at;
  const legs = [...new Set(lines.map((l) => l.leg))];
  const words = lines.map((l) => l.text.trim()).join(' ');
  return {
    call: {
      uuid: first.call_uuid,
      caller: first.caller,
      callee: first.callee,
      legs,
      startedAt,
      endedAt: last.received_at,
      durationSeconds: Math.max(0, Math.round((Date.parse(last.received_at) - Date.parse(startedAt)) / 100) / 10),
      lines: lines.length,
      preview: words.length > 160 ? `${words.slice(0, 159)}…` : words,
    },
    text: normalizeText(words),
    numbers: [first.caller, first.callee],
  };
}

/** `YYYY-MM-DD` in local time. */
export function localDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
