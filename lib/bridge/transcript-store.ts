import fs from 'node:fs';
import path from 'node:path';

/** One stored line of a call's transcript (a line of `<out-dir>/<call uuid>.jsonl`). */
export interface StoredLine {
  readonly call_uuid: string;
  /** `mixed` (both parties), or `caller` / `callee` with `--legs both`. */
  readonly leg: Leg;
  readonly caller: string;
  readonly callee: string;
  readonly start_ms: number;
  readonly end_ms: number;
  readonly text: string;
  /** When the line came back from the recognizer (ISO 8601). */
  readonly received_at: string;
  /** When the call was answered (ISO 8601). */
  readonly call_started_at: string;
}

export type Leg = 'mixed' | 'caller' | 'callee';

/** Appends each line to its call's JSON Lines file as it arrives (synchronously: a crash loses nothing stored). */
export class TranscriptStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  fileFor(callUuid: string): string {
    return path.join(this.dir, `${callUuid.replace(/[^0-9A-Za-z_-]/g, '_')}.jsonl`);
  }

  append(line: StoredLine): void {
    fs.appendFileSync(this.fileFor(line.call_uuid), `${JSON.stringify(line)}\n`);
  }
}

/** Reads a call's stored lines back. */
export function readTranscript(file: string): StoredLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as StoredLine);
}
