import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { readAudioFile } from '../lib/audio/wav.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createServer } from '../lib/server/server.js';
import type { AudioChunk } from '../lib/stream/chunk-buffer.js';
import { floatToS16le } from '../lib/audio/pcm.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { VoiceActivityGate } from '../lib/stream/voice-activity-gate.js';
import { SileroVad, VAD_WINDOW } from '../lib/vad/silero-vad.js';
import { VadIterator, type VadEvent } from '../lib/vad/vad-iterator.js';
import { FIXTURES, TOY, testCacheDir } from './helpers/fixtures.js';

const PROMPT = path.join(FIXTURES, 'telephone', 'fr-agent-pass.wav');
const THANKS = path.join(FIXTURES, 'telephone', 'fr-auth-thankyou.wav');

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const silence = (s: number): Float32Array => new Float32Array(Math.round(s * 16000));

/** 2 s silence, prompt (3 s), 1.5 s silence, "Merci" (0.75 s), 1 s silence: real 8 kHz recordings, resampled. */
function call(): { audio: Float32Array; speech: [number, number][] } {
  const a = readAudioFile(PROMPT).samples;
  const b = readAudioFile(THANKS).samples;
  const audio = concat([silence(2), a, silence(1.5), b, silence(1)]);
  const s1 = 2;
  const s2 = s1 + a.length / 16000 + 1.5;
  return { audio, speech: [[s1, s1 + a.length / 16000], [s2, s2 + b.length / 16000]] };
}

describe('VadIterator (Silero\'s decision rule)', () => {
  const run = (probs: number[]): [number, VadEvent][] =>
    probs.flatMap((p, i) => {
      const e = vi.step(p);
      return e ? [[i, e] as [number, VadEvent]] : [];
    });
  let vi: VadIterator;

  it('starts at the first window ≥ 0.5 padded back 100 ms, ends 500 ms below 0.35 padded forward 100 ms', () => {
    vi = new VadIterator();
    const probs = [...Array(10).fill(0.1), ...Array(20).fill(0.9), ...Array(20).fill(0.3)];
    const events = run(probs);
    // start: window 10 ends at sample 11·512; minus 1600 of padding and one window
    // end: the silence is counted from the end of window 30 (31·512); 8000 samples later, window 46 fires
    assert.deepEqual(events, [
      [10, { start: 11 * 512 - 1600 - 512 }],
      [46, { end: 31 * 512 + 1600 - 512 }],
    ]);
  });

  it('holds speech through values between 0.35 and 0.5, and through silences shorter than 500 ms', () => {
    vi = new VadIterator();
    const probs = [0.9, ...Array(30).fill(0.4), ...Array(10).fill(0.2), 0.8, ...Array(10).fill(0.2)];
    assert.deepEqual(run(probs), [[0, { start: 0 }]]);
    assert.equal(vi.speaking, true);
  });
});

describe('Silero VAD and the voice activity gate (real telephone recordings)', () => {
  let vad: SileroVad;
  before(async () => (vad = await SileroVad.load()));
  after(() => vad.release());

  it('tells speech from silence', async () => {
    const stream = vad.createStream();
    const quiet: number[] = [];
    for (let i = 0; i < 20; i++) quiet.push(await stream.probability(new Float32Array(VAD_WINDOW)));
    const speech = readAudioFile(PROMPT).samples;
    let loudest = 0;
    for (let i = 0; i + VAD_WINDOW <= speech.length; i += VAD_WINDOW) {
      loudest = Math.max(loudest, await stream.probability(speech.subarray(i, i + VAD_WINDOW)));
    }
    assert.ok(Math.max(...quiet) < 0.1, `silence: ${Math.max(...quiet)}`);
    assert.ok(loudest > 0.9, `speech: ${loudest}`);
  });

  async function gate(audio: Float32Array, piece: number): Promise<AudioChunk[]> {
    const pieces: Float32Array[] = [];
    for (let i = 0; i < audio.length; i += piece) pieces.push(audio.slice(i, i + piece));
    const out: AudioChunk[] = [];
    const g = new VoiceActivityGate({ vad, minChunkSize: 1.2 });
    g.on('data', (c: AudioChunk) => out.push(c));
    await pipeline(Readable.from(pieces, { objectMode: true }), g);
    return out;
  }

  it('sends speech only, ends each utterance, and accounts for every sample', async () => {
    const { audio, speech } = call();
    const chunks = await gate(audio, 640);
    let at = 0;
    const sent: [number, number][] = [];
    for (const c of chunks) {
      at += c.gap ?? 0;
      const [b, e] = [at / 16000, (at + c.samples.length) / 16000];
      if (c.samples.length && sent.length && sent.at(-1)![1] === b) sent.at(-1)![1] = e;
      else if (c.samples.length) sent.push([b, e]);
      at += c.samples.length;
    }
    assert.equal(at, audio.length, 'gaps + samples = the whole stream');
    assert.equal(chunks.filter((c) => c.utteranceEnd).length, 2);
    assert.equal(chunks.at(-1)!.last, true);
    // the leading silence is skipped (up to the 0.5 s start padding and Silero's 100 ms)
    assert.ok(sent[0]![0] > speech[0]![0] - 0.7 && sent[0]![0] < speech[0]![0] + 0.3, `first audio sent at ${sent[0]![0]}`);
    // every second of speech is sent; well under all the audio is
    for (const [b, e] of speech) assert.ok(sent.some(([s, t]) => s <= b + 0.3 && t >= e - 0.3), `speech ${b}–${e} sent`);
    const total = sent.reduce((n, [s, t]) => n + t - s, 0);
    assert.ok(total < audio.length / 16000 - 2, `sent ${total} s of ${audio.length / 16000}`);
  });

  it('gives the same chunks whatever the write sizes', async () => {
    const { audio } = call();
    const a = await gate(audio, 160);
    const b = await gate(audio, 16000);
    assert.deepEqual(
      a.map((c) => [c.samples.length, c.gap, c.utteranceEnd, c.last]),
      b.map((c) => [c.samples.length, c.gap, c.utteranceEnd, c.last]),
    );
  });

  describe('with the toy model', () => {
    let lm: LoadedModel;
    before(async () => {
      lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    });
    after(() => lm.release());

    it('times words in the stream\'s clock and ends each utterance with a final segment', async () => {
      const { audio, speech } = call();
      const segs = await streamPcm(floatToS16le(audio), { model: lm, language: 'fr', minChunkSize: 0.5, vad, writeSize: 3200 });
      assert.equal(segs.filter((s) => s.final).length, 2, 'one final segment per utterance');
      assert.ok(segs.some((s) => s.text !== ''), 'some text');
      for (const s of segs) {
        if (s.text === '') continue;
        const inside = speech.some(([b, e]) => s.startMs / 1000 >= b - 0.7 && s.endMs / 1000 <= e + 0.7);
        assert.ok(inside, `segment ${s.startMs}–${s.endMs} "${s.text}" outside speech ${JSON.stringify(speech)}`);
      }
    });

    it('serve --vac --json: is_final on every line, true at each utterance end', async () => {
      const server = createServer({ model: lm, host: '127.0.0.1', port: 0, language: 'fr', minChunkSize: 0.5, format: 'json', vad });
      const { port } = await server.listen();
      const out = await new Promise<string>((resolve, reject) => {
        const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        const got: Buffer[] = [];
        sock.on('data', (b) => got.push(b));
        sock.on('end', () => resolve(Buffer.concat(got).toString('utf8')));
        sock.on('error', reject);
        sock.on('connect', () => sock.end(floatToS16le(call().audio)));
      });
      await server.close();
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { is_final: boolean; text?: string });
      assert.ok(lines.length >= 2);
      assert.ok(lines.every((l) => typeof l.is_final === 'boolean'));
      assert.equal(lines.filter((l) => l.is_final).length, 2);
      assert.equal(lines.at(-1)!.is_final, true);
    });
  });
});
