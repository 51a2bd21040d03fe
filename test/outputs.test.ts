// The outputs people use: txt, json (the README's schema, milliseconds everywhere), srt, vtt,
// offline and streaming, to stdout or --output-dir; and file transcription as one pipeline that
// fails promptly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { cueTime } from '../lib/output/cue-time.js';
import { outputSink, type OutputFormat, type SinkOptions } from '../lib/output/output-sinks.js';
import type { TranscriptDocument } from '../lib/output/transcript.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { transcriber } from '../lib/stream/transcriber.js';
import type { Segment } from '../lib/stream/utf8-carry.js';
import { runCli, toyModelArgs } from './helpers/cli.js';
import { faultyModel } from './helpers/faulty-model.js';
import { ROOT, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';

const WAV = path.join(TOY, 'fr-000.wav');
const ARGS = [...toyModelArgs(), '--language', 'fr', '--min-chunk-size', '0.5'];

const word = (start: number, end: number, text: string, tokens: number[]) => ({ start, end, text, tokens, bytes: Buffer.from(text) });
/** Segments as the transcriber yields them (times in ms; word times in seconds). */
const SEGMENTS: Segment[] = [
  { startMs: 0, endMs: 1520.5, text: ' Bonjour', words: [word(0, 1.5204, ' Bonjour', [1, 2])], final: false, emittedMs: 2400, audioEndMs: 2400 },
  { startMs: 1521.5, endMs: 3723004.5, text: ' à tous.', words: [word(1.6, 2.1, ' à', [3]), word(2.1, 3723.0045, ' tous.', [4, 5])], final: true, emittedMs: 3723010, audioEndMs: 3723100 },
];

async function render(format: OutputFormat, segments: readonly Segment[], o: SinkOptions = {}): Promise<string> {
  let out = '';
  const sink = outputSink(format, o);
  sink.on('data', (b: Buffer | string) => (out += String(b)));
  await new Promise<void>((resolve, reject) => {
    sink.on('end', resolve).on('error', reject);
    Readable.from(segments).pipe(sink);
  });
  return out;
}

describe('output formats', () => {
  it('cue times: HH:MM:SS,mmm and HH:MM:SS.mmm, rounded as the text lines round', () => {
    assert.equal(cueTime(0, ','), '00:00:00,000');
    assert.equal(cueTime(1520.5, ','), '00:00:01,520'); // half to even, as "%1.0f"
    assert.equal(cueTime(1521.5, '.'), '00:00:01.522');
    assert.equal(cueTime(3723004.5, ','), '01:02:03,004');
    assert.equal(cueTime(-3, '.'), '00:00:00.000');
  });

  it('srt, vtt, txt, lines and json render the same segments', async () => {
    assert.equal(await render('srt', SEGMENTS), '1\n00:00:00,000 --> 00:00:01,520\nBonjour\n\n2\n00:00:01,522 --> 01:02:03,004\nà tous.\n\n');
    assert.equal(await render('vtt', SEGMENTS), 'WEBVTT\n\n00:00:00.000 --> 00:00:01.520\nBonjour\n\n00:00:01.522 --> 01:02:03.004\nà tous.\n\n');
    assert.equal(await render('txt', SEGMENTS), 'Bonjour à tous.\n');
    assert.equal(await render('lines', SEGMENTS), '0 1520  Bonjour\n1522 3723004  à tous.\n');
    const doc = JSON.parse(await render('json', SEGMENTS, { source: 'call.wav', language: 'fr', durationMs: () => 3723100 })) as TranscriptDocument;
    assert.deepEqual(doc, {
      format: 'simulstream-transcript/1',
      mode: 'streaming',
      source: 'call.wav',
      language: 'fr',
      durationMs: 3723100,
      text: 'Bonjour à tous.',
      segments: [
        { startMs: 0, endMs: 1520, text: ' Bonjour', final: false, emittedMs: 2400, words: [{ startMs: 0, endMs: 1520, text: ' Bonjour', tokens: [1, 2] }] },
        {
          startMs: 1522,
          endMs: 3723004,
          text: ' à tous.',
          final: true,
          emittedMs: 3723010,
          words: [
            { startMs: 1600, endMs: 2100, text: ' à', tokens: [3] },
            { startMs: 2100, endMs: 3723004, text: ' tous.', tokens: [4, 5] },
          ],
        },
      ],
    });
  });

  it('utterances (--vac): txt starts a line at each end of utterance; cues skip the empty marker', async () => {
    const end: Segment = { startMs: 1600, endMs: 1600, text: '', words: [], final: true, emittedMs: 1700, audioEndMs: 1700 };
    const two = [SEGMENTS[0]!, end, { ...SEGMENTS[1]!, text: ' Au revoir.' }];
    assert.equal(await render('txt', two), 'Bonjour\nAu revoir.\n');
    assert.equal((await render('srt', two)).split('\n\n').filter(Boolean).length, 2);
  });

  it('the README documents every field of the json document and of the server\'s --json lines', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### `--output-format json`'));
    assert.ok(section.length > 0 && readme.includes('### `--output-format json`'));
    for (const field of ['format', 'mode', 'source', 'language', 'durationMs', 'text', 'segments', 'startMs', 'endMs', 'final', 'emittedMs', 'words', 'tokens']) {
      assert.match(section, new RegExp(`\\| \`(segments\\[\\]\\.|segments\\[\\]\\.words\\[\\]\\.)?${field}\` \\|`, 'u'), field);
    }
    for (const field of ['start', 'end', 'text', 'tokens', 'words', 'emission_time', 'is_final', 'error']) assert.match(section, new RegExp(`\\| \`${field}\``, 'u'), `--json: ${field}`);
  });
});

describe('transcribe --output-format and --output-dir', () => {
  it('json, srt and vtt carry the lines\' times and texts, streaming; offline json has one segment per window', async () => {
    const lines = await runCli(['transcribe', WAV, ...ARGS]);
    assert.equal(lines.code, 0, lines.stderr);
    const expected = lines.stdout
      .trim()
      .split('\n')
      .map((l) => /^(\d+) (\d+) (.*)$/u.exec(l)!)
      .map((m) => ({ startMs: Number(m[1]), endMs: Number(m[2]), text: m[3]! }));
    assert.ok(expected.length >= 2);
    const json = await runCli(['transcribe', WAV, ...ARGS, '--output-format', 'json']);
    const doc = JSON.parse(json.stdout) as TranscriptDocument;
    assert.deepEqual(
      doc.segments.map((s) => ({ startMs: s.startMs, endMs: s.endMs, text: s.text })),
      expected,
    );
    assert.equal(doc.durationMs, Math.round((toyPcm('fr-000.wav').length / 32000) * 1000));
    assert.equal(doc.text, expected.map((e) => e.text).join('').trim());
    for (const s of doc.segments) for (const w of s.words) assert.ok(Number.isInteger(w.startMs) && Number.isInteger(w.endMs) && w.tokens.length > 0);
    const srt = await runCli(['transcribe', WAV, ...ARGS, '--output-format', 'srt']);
    assert.equal(srt.stdout, expected.map((e, i) => `${i + 1}\n${cueTime(e.startMs, ',')} --> ${cueTime(e.endMs, ',')}\n${e.text.trim()}\n\n`).join(''));
    const offline = await runCli(['transcribe', WAV, ...ARGS, '--offline', '--output-format', 'json']);
    const od = JSON.parse(offline.stdout) as TranscriptDocument;
    const text = await runCli(['transcribe', WAV, ...ARGS, '--offline']);
    assert.equal(od.mode, 'offline');
    assert.deepEqual(od.segments.map((s) => [s.startMs, s.endMs, s.words.length, 'emittedMs' in s]), [[0, doc.durationMs, 0, false]]);
    assert.equal(`${od.text}\n`, text.stdout);
  });

  it('--output-dir with all: one file per format, each what stdout would have printed; - names them stdin', async () => {
    const dir = tempDir();
    const r = await runCli(['transcribe', WAV, ...ARGS, '--output-format', 'all', '--output-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['fr-000.json', 'fr-000.srt', 'fr-000.txt', 'fr-000.vtt']);
    for (const f of ['srt', 'vtt', 'txt'] as const) {
      const printed = await runCli(['transcribe', WAV, ...ARGS, '--output-format', f]);
      assert.equal(fs.readFileSync(path.join(dir, `fr-000.${f}`), 'utf8'), printed.stdout, f);
    }
    const piped = await runCli(['transcribe', '-', ...ARGS, '--output-format', 'vtt', '--output-dir', dir], { stdin: fs.readFileSync(WAV) });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(fs.readFileSync(path.join(dir, 'stdin.vtt'), 'utf8'), fs.readFileSync(path.join(dir, 'fr-000.vtt'), 'utf8'));
  });
});

describe('file transcription is one pipeline', () => {
  let lm: LoadedModel;
  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(() => lm.release());

  it('a transcriber that fails mid-stream rejects while its writer is blocked on drain, and the source is destroyed', async () => {
    const pcm = Buffer.concat(Array.from({ length: 20 }, () => toyPcm('fr-000.wav'))); // 70 s
    const bad = faultyModel(lm, 3, () => new Error('injected model failure'));
    await assert.rejects(streamPcm(pcm, { model: bad, language: 'fr', writeSize: 4096 }), /injected model failure/u);
    // the same through the file's own path: a source that only produces when drained
    let produced = 0;
    let destroyed = false;
    const source = new Readable({
      highWaterMark: 4096,
      read() {
        produced += 4096;
        this.push(produced > pcm.length ? null : pcm.subarray(produced - 4096, produced));
      },
      destroy(err, cb) {
        destroyed = true;
        cb(err);
      },
    });
    const sink = new Writable({ objectMode: true, write: (_s, _e, cb) => cb() });
    await assert.rejects(pipeline(source, transcriber({ model: faultyModel(lm, 3, () => new Error('injected again')), language: 'fr', objectMode: true }), sink), /injected again/u);
    assert.ok(destroyed, 'the source was destroyed');
    assert.ok(produced < pcm.length, `the source stopped early (${produced} of ${pcm.length} bytes): its writes were waiting for drain`);
  });
});
