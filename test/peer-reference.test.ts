import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { buildCli } from '../lib/cli/main.js';
import { FIXTURES, SHARED, SKIP_NO_SHARED, TOY, testCacheDir } from './helpers/fixtures.js';

/** One update as SimulStreaming's `process_iter()` returns it (plus its emission time). */
interface Update {
  start: number;
  end: number;
  text: string;
  tokens: number[];
  words: { start: number; end: number; text: string; tokens: number[] }[];
  emission_time: number;
}

interface Row {
  case: string;
  file: string;
  flags: string[];
}

const MODEL = path.join(TOY, 'ggml-toy.bin');
const MS = 0.001;

function readJsonl<T>(file: string): T[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** `simulstream transcribe FILE --json --comp_unaware --compat simulstreaming FLAGS`, in process. */
async function transcribeJson(audio: string, flags: readonly string[]): Promise<Update[]> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  stderr.resume();
  const args = ['transcribe', audio, '--model_path', MODEL, '--models-dir', testCacheDir(), '--json', '--comp_unaware', '--compat', 'simulstreaming'];
  await buildCli({ stdout, stderr }).parseAsync([...args, ...flags], { from: 'user' });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Update);
}

function near(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= MS, `${what}: ${got} vs SimulStreaming's ${want}`);
}

/** Same tokens in every update, times within 1 ms. */
function assertSameUpdates(got: Update[], want: Update[], name: string): void {
  assert.deepEqual(
    got.map((u) => u.tokens),
    want.map((u) => u.tokens),
    `${name}: the tokens of each update`,
  );
  got.forEach((g, i) => {
    const w = want[i]!;
    const at = `${name} update ${i}`;
    assert.equal(g.text, w.text, `${at}: text`);
    near(g.start, w.start, `${at}: start`);
    near(g.end, w.end, `${at}: end`);
    near(g.emission_time, w.emission_time, `${at}: emission_time`);
    assert.deepEqual(
      g.words.map((x) => [x.text, x.tokens]),
      w.words.map((x) => [x.text, x.tokens]),
      `${at}: words`,
    );
    g.words.forEach((x, k) => {
      near(x.start, w.words[k]!.start, `${at} word ${k}: start`);
      near(x.end, w.words[k]!.end, `${at} word ${k}: end`);
    });
  });
}

function cases(root: string, audioDir: string): { name: string; audio: string; flags: string[]; expected: string }[] {
  return readJsonl<Row>(path.join(root, 'index.jsonl')).map((r) => ({
    name: `${r.case}/${r.file}`,
    audio: path.join(audioDir, r.file),
    flags: r.flags,
    expected: path.join(root, r.case, r.file.replace(/\.wav$/u, '.jsonl')),
  }));
}

describe('the policy equals SimulStreaming, update by update (transcribe --json --comp_unaware --compat simulstreaming)', () => {
  for (const c of cases(path.join(FIXTURES, 'peer'), TOY)) {
    it(`bundled case ${c.name}`, async () => {
      assertSameUpdates(await transcribeJson(c.audio, c.flags), readJsonl<Update>(c.expected), c.name);
    });
  }

  it('every case and file of ../shared/peer-reference-v3', { skip: SKIP_NO_SHARED, timeout: 1_800_000 }, async () => {
    const all = cases(path.join(SHARED!, 'peer-reference-v3'), path.join(SHARED!, 'toy-whisper-v3', 'test'));
    assert.equal(all.length, 63, 'every file of the 10 cases');
    const differing: string[] = [];
    for (const c of all) {
      try {
        assertSameUpdates(await transcribeJson(c.audio, c.flags), readJsonl<Update>(c.expected), c.name);
      } catch (err) {
        differing.push(`${c.name}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    assert.deepEqual(differing, [], `${differing.length} of ${all.length} files differ from SimulStreaming`);
  });
});
