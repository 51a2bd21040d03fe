import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { readAudioFile } from '../lib/audio/wav.js';
import { buildCli } from '../lib/cli/main.js';
import { evaluate } from '../lib/eval/evaluate.js';
import { readManifest } from '../lib/eval/manifest.js';
import { werCounts } from '../lib/eval/wer.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { repetitionStart } from '../lib/policy/repetition.js';
import { floatToS16le } from '../lib/audio/pcm.js';
import { SileroVad } from '../lib/vad/silero-vad.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { transcriber } from '../lib/stream/transcriber.js';
import { clipWer, parseLines, peerText, peerUpdates, referenceText, sameLines, simulStreamingOptions } from './helpers/peer.js';
import { FIXTURES, ROOT, SHARED, SKIP_NO_SHARED, SKIP_SLOW, TOY, testCacheDir, toyClipsManifest, toyPcm } from './helpers/fixtures.js';

const MODEL = path.join(TOY, 'ggml-toy.bin');
/** The 20-minute call's WER bound (%): 44.4 % measured with --vac (without it the toy model loses the thread once the buffer is full: 98.6 %, 156 tokens in 20 minutes; on the ~60 s long files SimulStreaming's own updates score 80 %). */
const WER_20_MIN = 50;

async function lines(lm: LoadedModel, pcm: Buffer, writeSize: number, opts: { language: string; minChunkSize?: number }): Promise<string> {
  const tr = transcriber({ model: lm, ...opts });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    tr.on('data', (b: Buffer) => chunks.push(b));
    tr.on('end', resolve);
    tr.on('error', reject);
  });
  for (let i = 0; i < pcm.length; i += writeSize) tr.write(pcm.subarray(i, i + writeSize));
  tr.end();
  await done;
  return Buffer.concat(chunks).toString('utf8');
}

describe('streaming on the toy model', () => {
  let lm: LoadedModel;
  before(async () => {
    lm = await loadModel({ modelPath: MODEL, cacheDir: testCacheDir() });
  });
  after(async () => {
    await lm.release();
  });

  it('gives the same lines for 1-byte, 333-byte and 1-second writes, as accurate as SimulStreaming on the clip', async () => {
    const pcm = toyPcm('fr-001.wav');
    const opts = { language: 'fr', minChunkSize: 0.5 };
    const whole = await lines(lm, pcm, 32000, opts);
    assert.match(whole, /^(\d+ \d+ .*\n)+$/u);
    // our defaults differ from SimulStreaming's (README, "Where we differ"): judged by the words, within one word of its WER
    const wer = clipWer(parseLines(whole).map((l) => l[2]).join(''), 'fr-001.wav', 'chunk0.5-ft25');
    const oneWord = 100 / referenceText('fr-001.wav').text.split(' ').length;
    assert.ok(wer.ours <= wer.simulstreaming + oneWord + 1e-9, `WER ${wer.ours.toFixed(1)} % vs SimulStreaming's ${wer.simulstreaming.toFixed(1)} %\n${whole}`);
    assert.equal(await lines(lm, pcm, 333, opts), whole);
    assert.equal(await lines(lm, pcm, 1, opts), whole);
  });

  it("1-byte and odd-sized writes through the pipeline give SimulStreaming's own updates (peer reference)", async () => {
    // chunk0.5-ft25/fr-001: SimulStreaming's updates on this clip with --min-chunk-size 0.5
    const peer = fs
      .readFileSync(path.join(FIXTURES, 'peer', 'chunk0.5-ft25', 'fr-001.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { tokens: number[] }).tokens);
    const pcm = toyPcm('fr-001.wav');
    for (const writeSize of [1, 333, 32000]) {
      const segs = await streamPcm(pcm, {
        model: lm,
        language: 'fr',
        minChunkSize: 0.5,
        chunking: 'simulstreaming',
        repetitionGuard: false,
        maxTokensPerSecond: 0,
        suppressTimestamps: false,
        writeSize,
      });
      assert.deepEqual(
        segs.map((x) => x.words.flatMap((w) => [...w.tokens])),
        peer,
        `writes of ${writeSize} bytes`,
      );
    }
  });

  it("`simulstream transcribe --compat simulstreaming --comp_unaware` prints SimulStreaming's lines (peer reference)", async () => {
    for (const name of ['fr-000.wav', 'en-001.wav']) {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      stderr.resume();
      const cli = buildCli({ stdout, stderr });
      await cli.parseAsync(
        ['transcribe', path.join(TOY, name), '--model_path', MODEL, '--language', name.slice(0, 2), '--min-chunk-size', '0.5', '--compat', 'simulstreaming', '--comp_unaware', '--models-dir', testCacheDir()],
        { from: 'user' },
      );
      const want = peerText('chunk0.5-ft25', name);
      assert.ok(sameLines(out, want), `${name}: SimulStreaming's lines\n${want}\ngot\n${out}`);
    }
  });

  it("`npm run demo` prints its clip's words (the v3 manifest's text, WER 0)", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const args = pkg.scripts.demo!.split('node bin/simulstream.js ')[1]!.split(' ');
    assert.equal(args[0], 'transcribe');
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    stderr.resume();
    const prev = process.cwd();
    process.chdir(ROOT);
    try {
      await buildCli({ stdout, stderr }).parseAsync([...args, '--models-dir', testCacheDir()], { from: 'user' });
    } finally {
      process.chdir(prev);
    }
    const text = out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => /^\d+ \d+ (.*)$/u.exec(l)![1])
      .join('');
    assert.equal(text, ' Mon code postal est neuf quatre sept un sept.');
    // the sentence the v3 test set's manifest gives for this file
    assert.deepEqual(werCounts('Mon code postal est neuf quatre sept un sept.', text, 'fr'), { errors: 0, words: 9 });
  });

  it("emits the tail at end of stream (SimulStreaming's finish() update), and without the final pass stops at the last chunk", async () => {
    let gained = 0;
    for (const name of ['fr-000.wav', 'fr-001.wav', 'en-000.wav', 'en-001.wav']) {
      const samples = readAudioFile(path.join(TOY, name)).samples;
      const opts = simulStreamingOptions('chunk0.5-ft25', name.slice(0, 2));
      const peer = peerUpdates('chunk0.5-ft25', name);
      // the peer's finish() update is emitted at the file's duration; every other at its chunk's end
      // the peer's last update is its finish() (the final pass), emitted at the file's duration
      assert.ok(Math.abs(peer.at(-1)!.emission_time - samples.length / 16000) < 1e-6, `${name}: the peer's last update is finish()'s`);
      const chunks = peer.slice(0, -1).flatMap((u) => u.tokens);
      const tokensOf = async (finalPass: boolean): Promise<number[]> =>
        (await streamPcm(floatToS16le(samples), { model: lm, ...opts, finalPass })).flatMap((x) => x.words.flatMap((w) => [...w.tokens]));
      assert.deepEqual(await tokensOf(false), chunks, `${name}: no final pass, the chunks' updates only`);
      assert.deepEqual(await tokensOf(true), peer.flatMap((u) => u.tokens), `${name}: with the final pass, finish() as well`);
      gained += peer.flatMap((u) => u.tokens).length - chunks.length;
    }
    assert.ok(gained > 0, 'on these clips the final pass emits words a server without it would have lost');
  });

  it('the bundled clips: streaming WER below 50 %, at most one error per file more than offline', async () => {
    // 52 reference words in all: one word is 3 to 6 points, so the bound is in words (the
    // model listens: offline it gets 11 of 34 French and 7 of 18 English words wrong; the
    // streaming policy may lose a word at the first chunk's decision or the end-of-stream pass)
    const entries = toyClipsManifest();
    const off = await evaluate(lm, entries, { mode: 'offline' });
    const on = await evaluate(lm, entries, { mode: 'streaming' });
    for (const lang of ['fr', 'en']) {
      const [s, o] = [on.wer[lang]!, off.wer[lang]!];
      assert.ok(s.wer < 50 && o.wer < 50, `${lang}: streaming ${s.wer} %, offline ${o.wer} %`);
      assert.ok(s.errors <= o.errors + s.files, `${lang}: streaming ${s.errors} errors vs offline ${o.errors}`);
    }
    assert.ok(on.results.every((r) => r.emitted!.length > 0), 'every clip gave updates');
  });

  it('streaming WER on the held-out short files is at most 5 points above offline', { skip: SKIP_NO_SHARED || SKIP_SLOW }, async (t) => {
    // measured (npm run eval): offline fr 29.9 %, en 33.6 %; streaming with the defaults fr 34.1 %,
    // en 35.5 %: the end-of-stream pass's attention stop (SimulStreaming's frame threshold 4) cuts
    // the last word of about one French file in four. The long files are npm run eval's business.
    const entries = readManifest(path.join(SHARED!, 'toy-whisper-v3/test/manifest.jsonl')).filter((e) => !e.segments);
    assert.equal(entries.length, 200);
    const off = await evaluate(lm, entries, { mode: 'offline' });
    const on = await evaluate(lm, entries, { mode: 'streaming' });
    t.diagnostic(`offline ${JSON.stringify(off.wer)} streaming ${JSON.stringify(on.wer)}`);
    for (const lang of ['fr', 'en']) {
      assert.ok(off.wer[lang]!.wer < 35, `${lang}: offline ${off.wer[lang]!.wer} % (the model's README: fr 29.9, en 33.6)`);
      assert.ok(on.wer[lang]!.wer <= off.wer[lang]!.wer + 5, `${lang}: streaming ${on.wer[lang]!.wer} vs offline ${off.wer[lang]!.wer}`);
    }
  });

  it('a 20-minute call with --vac runs in flat memory, without a repetition loop, its WER under 50 %', { skip: SKIP_SLOW }, async (t) => {
    const clips = ['fr-000.wav', 'fr-001.wav'].map((n) => readAudioFile(path.join(TOY, n)).samples);
    const pause = new Float32Array(16000); // 1 s between utterances: VAC ends each one
    const parts: Float32Array[] = [];
    const reference: string[] = [];
    let total = 0;
    while (total < 20 * 60 * 16000) {
      for (const [i, c] of clips.entries()) {
        parts.push(c, pause);
        reference.push(referenceText(`fr-00${i}.wav`).text);
        total += c.length + pause.length;
      }
    }
    const vad = await SileroVad.load();
    t.after(() => vad.release());
    const tr = transcriber({ model: lm, language: 'fr', objectMode: true, minChunkSize: 1.2, vad });
    const rss: number[] = [];
    let tokens = 0;
    let loops = 0;
    let text = '';
    tr.on('data', (s: { text: string; words: { tokens: number[] }[] }) => {
      const t = s.words.flatMap((w) => w.tokens);
      text += s.text;
      tokens += t.length;
      if (repetitionStart(t) >= 0) loops++;
    });
    const ended = new Promise((r, j) => {
      tr.on('end', r);
      tr.on('error', j);
    });
    let sent = 0;
    for (const p of parts) {
      if (!tr.write(floatToS16le(p))) await new Promise((r) => tr.once('drain', r));
      sent += p.length;
      if (sent % (60 * 16000) < p.length) {
        global.gc?.();
        rss.push(process.memoryUsage().rss);
      }
    }
    tr.end();
    await ended;
    const minutes = total / 16000 / 60;
    const growth = (rss.at(-1)! - rss[2]!) / 2 ** 20;
    t.diagnostic(`RSS per minute (MiB): ${rss.map((r) => (r / 2 ** 20).toFixed(0)).join(' ')}; ${tokens} tokens`);
    assert.ok(growth < 64, `RSS grew ${growth.toFixed(1)} MiB between minute 3 and minute ${minutes.toFixed(0)}`);
    assert.equal(loops, 0);
    // and it still transcribes at the end: the whole 20 minutes against the clips' texts repeated
    const c = werCounts(reference.join(' '), text, 'fr');
    const wer = (100 * c.errors) / c.words;
    t.diagnostic(`WER over ${c.words} words: ${wer.toFixed(1)} %`);
    assert.ok(wer < WER_20_MIN, `WER ${wer.toFixed(1)} % over 20 minutes`);
    assert.ok(tokens / (total / 16000) < 10, `${tokens} tokens for ${minutes} minutes`);
  });
});
