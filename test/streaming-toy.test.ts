import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { readAudioFile } from '../lib/audio/wav.js';
import { buildCli } from '../lib/cli/main.js';
import { AlignAttSession } from '../lib/decode/align-att.js';
import { evaluate } from '../lib/eval/evaluate.js';
import { readManifest } from '../lib/eval/manifest.js';
import { werCounts } from '../lib/eval/wer.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { repetitionStart } from '../lib/policy/repetition.js';
import { floatToS16le } from '../lib/audio/pcm.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { transcriber } from '../lib/stream/transcriber.js';
import { FIXTURES, ROOT, SHARED, SKIP_NO_SHARED, SKIP_SLOW, TOY, testCacheDir, toyClipsManifest, toyPcm } from './helpers/fixtures.js';

const MODEL = path.join(TOY, 'ggml-toy.bin');

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

  it('gives identical output for 1-byte, 333-byte and 1-second writes', async () => {
    const pcm = toyPcm('fr-001.wav');
    const opts = { language: 'fr', minChunkSize: 0.5 };
    const whole = await lines(lm, pcm, 32000, opts);
    assert.match(whole, /^(\d+ \d+ .*\n)+$/u);
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

  it('`simulstream transcribe` prints the same lines as the library pipeline', async () => {
    const file = path.join(TOY, 'fr-000.wav');
    const expected = await lines(lm, toyPcm('fr-000.wav'), 1 << 20, { language: 'fr', minChunkSize: 0.5 });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    stderr.resume();
    const cli = buildCli({ stdout, stderr });
    await cli.parseAsync(
      ['transcribe', file, '--model_path', MODEL, '--language', 'fr', '--min-chunk-size', '0.5', '--models-dir', testCacheDir()],
      { from: 'user' },
    );
    assert.equal(out, expected);
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

  it('emits the tail at end of stream, where SimulStreaming\'s server stops at the last chunk', async () => {
    let gained = 0;
    for (const name of ['fr-000.wav', 'fr-001.wav', 'en-000.wav', 'en-001.wav']) {
      const samples = readAudioFile(path.join(TOY, name)).samples;
      const language = name.slice(0, 2);
      // SimulStreaming's server: chunk iterations only, no final pass
      const s = new AlignAttSession(lm, { language });
      const C = 8000;
      let upstream: number[] = [];
      let i = 0;
      for (; i + C <= samples.length; i += C) upstream = [...upstream, ...(await s.process(samples.subarray(i, i + C))).tokens];
      const segs = await streamPcm(floatToS16le(samples), { model: lm, language, minChunkSize: 0.5 });
      const ours = segs.flatMap((x) => x.words.flatMap((w) => [...w.tokens]));
      assert.deepEqual(ours.slice(0, upstream.length), upstream, 'the same text up to the last chunk');
      gained += ours.length - upstream.length;
      if (ours.length > upstream.length) assert.equal(segs.at(-1)!.final, true, 'the tail comes from the final pass');
    }
    assert.ok(gained > 0, 'the final pass emitted words the upstream server would have lost');
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
    assert.ok(on.lag!.words > 0);
  });

  it('streaming WER on the whole held-out set is at most 2 points above offline', { skip: SKIP_NO_SHARED || SKIP_SLOW }, async (t) => {
    const entries = readManifest(path.join(SHARED!, 'toy-whisper-v3/test/manifest.jsonl'));
    const off = await evaluate(lm, entries, { mode: 'offline' });
    const on = await evaluate(lm, entries, { mode: 'streaming' });
    t.diagnostic(`offline ${JSON.stringify(off.wer)} streaming ${JSON.stringify(on.wer)} lag ${JSON.stringify(on.lag)}`);
    for (const lang of Object.keys(off.wer)) {
      assert.ok(on.wer[lang]!.wer <= off.wer[lang]!.wer + 2, `${lang}: streaming ${on.wer[lang]!.wer} vs offline ${off.wer[lang]!.wer}`);
    }
  });

  it('a 20-minute stream runs in flat memory without a repetition loop', { skip: SKIP_SLOW }, async (t) => {
    const clips = ['fr-000.wav', 'fr-001.wav'].map((n) => readAudioFile(path.join(TOY, n)).samples);
    const pause = new Float32Array(8000);
    const parts: Float32Array[] = [];
    let total = 0;
    while (total < 20 * 60 * 16000) {
      for (const c of clips) {
        parts.push(c, pause);
        total += c.length + pause.length;
      }
    }
    const tr = transcriber({ model: lm, language: 'fr', objectMode: true, minChunkSize: 1.2 });
    const rss: number[] = [];
    let tokens = 0;
    let loops = 0;
    tr.on('data', (s: { words: { tokens: number[] }[] }) => {
      const t = s.words.flatMap((w) => w.tokens);
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
    assert.ok(tokens / (total / 16000) < 10, `${tokens} tokens for ${minutes} minutes`);
  });
});
