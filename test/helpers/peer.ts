// SimulStreaming's own updates on the bundled toy clips (test/fixtures/peer, from
// ../shared/peer-reference-v3), and the text lines its server prints for them: the external
// reference the server, bridge and metrics tests compare with.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { werCounts } from '../../lib/eval/wer.js';
import { FIXTURES } from './fixtures.js';

/** One update as SimulStreaming's `process_iter()` returns it (plus its emission time). */
export interface PeerUpdate {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly tokens: number[];
  readonly words: { start: number; end: number; text: string; tokens: number[] }[];
  readonly emission_time: number;
}

/** Peer cases bundled for every toy clip, with the flags that reproduce them. */
export const PEER_CASES = {
  /** SimulStreaming's defaults: 1.2 s chunks, frame threshold 25. */
  defaults: { minChunkSize: 1.2, frameThreshold: 25 },
  /** 0.5 s chunks, frame threshold 25. */
  'chunk0.5-ft25': { minChunkSize: 0.5, frameThreshold: 25 },
} as const;
export type PeerCase = keyof typeof PEER_CASES;

/** SimulStreaming's updates for a bundled clip (`fr-000.wav`, …). */
export function peerUpdates(kase: PeerCase | string, file: string): PeerUpdate[] {
  return fs
    .readFileSync(path.join(FIXTURES, 'peer', kase, file.replace(/\.wav$/u, '.jsonl')), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as PeerUpdate);
}

/** SimulStreaming's `--out-txt` line for an update: `"%1.0f %1.0f %s\n" % (start*1000, end*1000, text)`. */
export function peerLine(u: PeerUpdate): string {
  return `${pyRound(u.start * 1000)} ${pyRound(u.end * 1000)} ${u.text}\n`;
}

/** The text lines SimulStreaming's server prints for a clip (updates with text only). */
export function peerText(kase: PeerCase | string, file: string): string {
  return peerUpdates(kase, file)
    .filter((u) => u.text !== '')
    .map(peerLine)
    .join('');
}

/** Python's `'%1.0f' % x`: round half to even. */
function pyRound(x: number): string {
  const f = Math.floor(x);
  const d = x - f;
  const r = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return String(r === 0 ? 0 : r);
}

/**
 * Server, transcriber or bridge options under which our output is SimulStreaming's, update for
 * update (its file loop's chunking; none of our differences; the final pass at the end, as its file
 * simulation does).
 */
export function simulStreamingOptions(kase: PeerCase, language: string) {
  return {
    language,
    ...PEER_CASES[kase],
    chunking: 'simulstreaming' as const,
    repetitionGuard: false,
    maxTokensPerSecond: 0,
    suppressTimestamps: false,
    finalFrameThreshold: 4,
    finalPass: true,
  };
}

/** `start_ms end_ms text` lines → [start, end, text]. */
export function parseLines(text: string): [number, number, string][] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(-?\d+) (-?\d+) (.*)$/su.exec(l);
      if (!m) throw new Error(`not a "start_ms end_ms text" line: ${JSON.stringify(l)}`);
      return [Number(m[1]), Number(m[2]), m[3]!];
    });
}

/**
 * The same lines: the same texts in the same order, each time within 1 ms (SimulStreaming's times
 * are floats; ours agree to the millisecond, and a rounding may fall either side of .5).
 */
export function sameLines(got: string, want: string): boolean {
  const g = parseLines(got);
  const w = parseLines(want);
  return g.length === w.length && g.every(([s, e, t], i) => t === w[i]![2] && Math.abs(s - w[i]![0]) <= 1 && Math.abs(e - w[i]![1]) <= 1);
}

/** The reference text of a bundled clip (the v3 manifest's, as its reference JSON holds it). */
export function referenceText(file: string): { text: string; language: string } {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'toy', file.replace(/\.wav$/u, '.reference.json')), 'utf8')) as { reference_text: string; language: string };
  return { text: ref.reference_text, language: ref.language };
}

/**
 * Word error rate (%) of a transcript of a bundled clip against the clip's reference text, and
 * SimulStreaming's own on the same clip (its updates' texts joined): a test bounds ours by its.
 */
export function clipWer(text: string, file: string, kase: PeerCase = 'defaults'): { ours: number; simulstreaming: number } {
  return clipsWer(text, [file], kase);
}

/** {@link clipWer} of a call made of several bundled clips back to back (one language): their reference texts joined. */
export function clipsWer(text: string, files: readonly string[], kase: PeerCase = 'defaults'): { ours: number; simulstreaming: number } {
  const refs = files.map(referenceText);
  const ref = refs.map((r) => r.text).join(' ');
  const language = refs[0]!.language;
  const wer = (hyp: string): number => {
    const c = werCounts(ref, hyp, language);
    return (100 * c.errors) / c.words;
  };
  return { ours: wer(text), simulstreaming: wer(files.map((f) => peerUpdates(kase, f).map((u) => u.text).join('')).join(' ')) };
}

/** Asserts that `got` (text lines) are SimulStreaming's lines for `file` in `kase` (which has some). */
export function assertPeerLines(got: string, file: string, what = file, kase: PeerCase = 'defaults'): void {
  const want = peerText(kase, file);
  assert.ok(want.length > 0, `${what}: SimulStreaming has lines for it`);
  assert.ok(sameLines(got, want), `${what}: SimulStreaming's lines\n${want}\ngot\n${got}`);
}

/** Asserts that `out` (JSON lines) are SimulStreaming's own updates for `file` in `kase`: the same texts and tokens, times within 1 ms. */
export function assertPeerJson(out: string, kase: PeerCase, file: string): void {
  const got = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { start: number; end: number; text: string; tokens: number[] });
  const want = peerUpdates(kase, file).filter((u) => u.text !== '');
  assert.deepEqual(
    got.map((u) => [u.text, u.tokens]),
    want.map((u) => [u.text, u.tokens]),
  );
  got.forEach((u, i) => assert.ok(Math.abs(u.start - want[i]!.start) <= 0.001 && Math.abs(u.end - want[i]!.end) <= 0.001, `update ${i}: times`));
}
