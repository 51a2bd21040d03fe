// SimulStreaming's own updates (../shared/peer-reference-v3, or the bundled test/fixtures/peer),
// read for scoring: the cases, their flags and files, and each update's text and emission time.
import fs from 'node:fs';
import path from 'node:path';
import type { EmittedText } from '../lib/eval/emitted-words.js';

/** One file of one case of the peer reference. */
export interface PeerFile {
  readonly case: string;
  /** The audio's file name (in the test set's directory). */
  readonly file: string;
  readonly language: string;
  /** SimulStreaming's flags for this run (language first). */
  readonly flags: readonly string[];
  /** Each update's text and `emission_time`. */
  readonly updates: readonly EmittedText[];
}

function jsonl<T>(file: string): T[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Every case and file of a peer-reference directory (its `index.jsonl`), in its order. */
export function readPeerReference(root: string): PeerFile[] {
  return jsonl<{ case: string; file: string; language: string; flags: string[] }>(path.join(root, 'index.jsonl')).map((r) => ({
    case: r.case,
    file: r.file,
    language: r.language,
    flags: r.flags,
    updates: jsonl<{ text: string; emission_time: number }>(path.join(root, r.case, r.file.replace(/\.wav$/u, '.jsonl'))).map((u) => ({
      text: u.text,
      at: u.emission_time,
    })),
  }));
}
