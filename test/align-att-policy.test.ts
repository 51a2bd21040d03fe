import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlignAttSession } from '../lib/decode/align-att.js';
import { floatToS16le } from '../lib/audio/pcm.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { FakeModel, audio, type ScriptToken } from './helpers/fake-model.js';
import { AlignAttDecoder } from '../lib/stream/align-att-decoder.js';
import type { AudioChunk } from '../lib/stream/chunk-buffer.js';

/** Single-token words of the multilingual vocabulary. */
function words(fake: FakeModel, ...ws: string[]): number[] {
  return ws.map((w) => {
    const t = fake.tokenizer.encode(w);
    assert.equal(t.length, 1, `${w} is one token`);
    return t[0]!;
  });
}

function script(tokens: number[], frames: number[]): ScriptToken[] {
  return tokens.map((token, i) => ({ token, frame: frames[i]! }));
}

describe('AlignAtt policy (scripted decoder, hand-made attention)', () => {
  it('stops at the frame threshold and resumes from the committed tokens with the next chunk', async () => {
    const probe = new FakeModel([]);
    const [a, b, c, d] = words(probe, ' Bonjour', ' à', ' vous', ' tous');
    const fake = new FakeModel(script([a!, b!, c!, d!], [5, 15, 40, 70]));
    const s = new AlignAttSession(fake.asLoadedModel(), { language: 'fr' });
    // 1.2 s = 60 frames: " vous" attends frame 40, 20 ≤ 25 frames from the end → dropped, stop
    const u1 = await s.process(audio(1.2));
    assert.deepEqual(u1.tokens, [a, b]);
    assert.equal(u1.stop, 'threshold');
    assert.deepEqual(
      u1.words.map((w) => [w.text, w.start, w.end]),
      [
        [' Bonjour', 5 * 0.02, 5 * 0.02],
        [' à', 15 * 0.02, 15 * 0.02],
      ],
    );
    const u2 = await s.process(audio(1.2));
    assert.deepEqual(u2.tokens, [c, d]);
    assert.equal(u2.stop, 'eot');
    const sot = fake.tokenizer.special.sot;
    assert.deepEqual(fake.prefixes[1], [sot, fake.tokenizer.languageToken('fr'), fake.tokenizer.special.transcribe, fake.tokenizer.special.noTimestamps, a, b]);
    const u3 = await s.finish();
    assert.deepEqual(u3.tokens, []);
  });

  it('with --encoder-window auto encodes the buffer rounded up to 2 s, with the same words at the same times', async () => {
    const probe = new FakeModel([]);
    const [a, b, c, d] = words(probe, ' Bonjour', ' à', ' vous', ' tous');
    const run = async (encoderWindow: 'full' | 'auto'): Promise<{ windows: number[]; words: [string, number, number][] }> => {
      const fake = new FakeModel(script([a!, b!, c!, d!], [5, 15, 40, 70]));
      const s = new AlignAttSession(fake.asLoadedModel(), { language: 'fr', encoderWindow });
      const windows: number[] = [];
      const out: [string, number, number][] = [];
      for (const step of [() => s.process(audio(1.2)), () => s.process(audio(1.2)), () => s.finish()]) {
        const u = await step();
        windows.push(fake.windowFrames);
        out.push(...u.words.map((w): [string, number, number] => [w.text, w.start, w.end]));
      }
      return { windows, words: out };
    };
    const full = await run('full');
    const auto = await run('auto');
    assert.deepEqual(full.windows, [1500, 1500, 1500]);
    // 1.2 s and 2.4 s of audio: 2 s (100 encoder frames), then 4 s (200)
    assert.deepEqual(auto.windows, [100, 200, 200]);
    assert.deepEqual(auto.words, full.words);
    assert.equal(full.words.length, 4);
  });

  it('rejects an unknown encoder window with ERR_INVALID_OPTION', () => {
    const fake = new FakeModel([]);
    assert.throws(
      () => new AlignAttSession(fake.asLoadedModel(), { encoderWindow: '10' as 'auto' }),
      (e: Error & { code?: string }) => e.code === 'ERR_INVALID_OPTION' && /--encoder-window/.test(e.message),
    );
  });

  it('writes SimulStreaming --out-txt lines with its line times', async () => {
    const probe = new FakeModel([]);
    const [a, b, c, d] = words(probe, ' Bonjour', ' à', ' vous', ' tous');
    const fake = new FakeModel(script([a!, b!, c!, d!], [5, 15, 40, 70]));
    const segs = await streamPcm(floatToS16le(audio(2.4)), { model: fake.asLoadedModel(), language: 'fr', minChunkSize: 1.2 });
    const lines = segs.map((s) => `${Math.round(s.startMs)} ${Math.round(s.endMs)} ${s.text}`);
    assert.deepEqual(lines, ['100 300  Bonjour à', '800 1400  vous tous']);
  });

  it('discards the iteration on a rewind of more than 200 frames (unless after a special token)', async () => {
    const probe = new FakeModel([]);
    const [a, b] = words(probe, ' Bonjour', ' à');
    const fake = new FakeModel(script([a!, b!], [250, 20]));
    const s = new AlignAttSession(fake.asLoadedModel(), { language: 'fr' });
    const u = await s.process(audio(6));
    assert.equal(u.stop, 'rewind');
    assert.deepEqual(u.tokens, []);
    // the first token follows <|notimestamps|>: a jump back there is not a rewind
    const fake2 = new FakeModel(script([a!, b!], [20, 100]));
    const s2 = new AlignAttSession(fake2.asLoadedModel(), { language: 'fr' });
    const u2 = await s2.process(audio(6));
    assert.deepEqual([u2.stop, u2.tokens], ['eot', [a, b]], 'forward attention: both tokens kept');
    const fake3 = new FakeModel(script([a!], [20]));
    const s3 = new AlignAttSession(fake3.asLoadedModel(), { language: 'fr', rewindThreshold: 10 });
    const u3 = await s3.process(audio(6));
    assert.deepEqual(u3.tokens, [a]);
  });

  it('with --never_fire holds back the last word until the final pass', async () => {
    const probe = new FakeModel([]);
    const [a, b, c] = words(probe, ' Bonjour', ' à', ' vous');
    const fake = new FakeModel(script([a!, b!, c!], [5, 15, 30]));
    const s = new AlignAttSession(fake.asLoadedModel(), { language: 'fr', neverFire: true });
    const u1 = await s.process(audio(1.2));
    assert.equal(u1.stop, 'eot');
    assert.deepEqual(u1.tokens, [a, b]);
    const u2 = await s.finish();
    assert.deepEqual(u2.tokens, [c]);
    assert.equal(u2.final, true);
  });

  it('runs a final pass at end of stream with a threshold of 4 frames, so the tail comes out', async () => {
    const probe = new FakeModel([]);
    const [a, b, c] = words(probe, ' Bonjour', ' à', ' vous');
    // 60 frames: " à" at 50 is 10 from the end (held while streaming), " vous" at 57 is 3 from the end
    const fake = new FakeModel(script([a!, b!, c!], [5, 50, 57]));
    const segs = await streamPcm(floatToS16le(audio(1.2)), { model: fake.asLoadedModel(), language: 'fr', minChunkSize: 1.2 });
    assert.deepEqual(
      segs.map((x) => [x.text, x.final]),
      [
        [' Bonjour', false],
        [' à', true],
      ],
    );
    // the final line ends at the end of the audio received
    assert.equal(segs[1]!.endMs, 1200);
  });

  it('moves the text of audio leaving the 30 s buffer (here 2 s) into the context, after <|startofprev|>', async () => {
    const probe = new FakeModel([]);
    const [a, b, c] = words(probe, ' Bonjour', ' à', ' vous');
    const fake = new FakeModel(script([a!, b!, c!], [10, 40, 90]));
    const s = new AlignAttSession(fake.asLoadedModel(), { language: 'fr', audioMaxLen: 2 });
    assert.deepEqual((await s.process(audio(1))).tokens, [a]); // 50 frames: " à" at 40 waits
    assert.deepEqual((await s.process(audio(1))).tokens, [b]); // 100 frames: " vous" at 90 waits
    fake.offsetFrames = 50; // the third second pushes the first out of the buffer
    const u = await s.process(audio(1));
    assert.equal(s.contextText, ' Bonjour');
    const t = fake.tokenizer;
    assert.deepEqual(fake.prefixes[2], [t.special.sotPrev, a, t.special.sot, t.languageToken('fr'), t.special.transcribe, t.special.noTimestamps, b]);
    assert.deepEqual(u.tokens, [c]);
    // times are in the stream's clock: frame 40 of a buffer that starts at 1 s
    assert.ok(Math.abs(u.words[0]!.start - 1.8) < 1e-9);
  });

  it('trims the scrolling prompt by words to max_context_tokens but keeps the static prompt', async () => {
    const fake = new FakeModel([]);
    const t = fake.tokenizer;
    const s = new AlignAttSession(fake.asLoadedModel(), {
      language: 'fr',
      staticInitPrompt: ' Acme Telecom',
      initPrompt: ' rendez-vous facture résiliation',
      maxContextTokens: t.encode(' Acme Telecom facture').length + 1,
    });
    await s.process(audio(1.2));
    assert.ok(s.contextText.startsWith(' Acme Telecom'), s.contextText);
    assert.ok(t.encode(s.contextText).length <= t.encode(' Acme Telecom facture').length + 1);
    assert.ok(s.contextText.length < ' Acme Telecom rendez-vous facture résiliation'.length);
    assert.equal(fake.prefixes[0]![0], t.special.sotPrev);
    assert.deepEqual(fake.prefixes[0]!.slice(1, 1 + t.encode(s.contextText).length), t.encode(s.contextText));
    // with a prompt this long, nothing of the static prompt goes
    const s2 = new AlignAttSession(new FakeModel([]).asLoadedModel(), { language: 'fr', staticInitPrompt: ' Acme Telecom', maxContextTokens: 0 });
    await s2.process(audio(1.2));
    assert.equal(s2.contextText, ' Acme Telecom');
  });

  it('never emits timestamp tokens (SimulStreaming can loop on them)', async () => {
    const probe = new FakeModel([]);
    const [a, b] = words(probe, ' Bonjour', ' à');
    const ts = probe.tokenizer.special.timestampBegin + 249;
    const fake = new FakeModel(script([a!, b!], [5, 15]), { bias: new Map([[ts, 20]]) });
    const u = await new AlignAttSession(fake.asLoadedModel(), { language: 'fr' }).process(audio(1.2));
    assert.deepEqual(u.tokens, [a, b]);
  });

  it('cuts a decoding loop (repeated n-gram) and keeps one copy', async () => {
    const probe = new FakeModel([]);
    const [non] = words(probe, ' non');
    const fake = new FakeModel(script(new Array<number>(40).fill(non!), Array.from({ length: 40 }, (_, i) => 10 + 10 * i)));
    const s = new AlignAttSession(fake.asLoadedModel(), { language: 'fr' });
    const u = await s.process(audio(10));
    assert.equal(u.stop, 'repetition');
    assert.deepEqual(u.tokens, [non]);
    assert.equal(s.repetitionsCut, 1);
  });

  it('holds a character split across two updates until it is whole (no U+FFFD)', async () => {
    const probe = new FakeModel([]);
    const t = probe.tokenizer;
    const tokens = t.encode(' Œuvre');
    const incomplete = tokens.findIndex((x) => t.decode([x]).includes('\ufffd'));
    assert.ok(incomplete >= 0, 'the phrase splits a character across tokens');
    // the policy stops right after the first token: the next one attends near the end
    const frames = tokens.map((_, i) => (i === 0 ? 10 : i === 1 ? 40 : 45 + i));
    const fake = new FakeModel(script(tokens, frames));
    const segs = await streamPcm(floatToS16le(audio(2.4)), { model: fake.asLoadedModel(), language: 'fr', minChunkSize: 1.2 });
    const text = segs.map((x) => x.text).join('');
    assert.equal(text, ' Œuvre');
    for (const x of segs) assert.ok(!x.text.includes('\ufffd'), x.text);
  });

  it("beam search commits the best row (SimulStreaming's decoder; the peer-reference test checks it on a real model)", async () => {
    const probe = new FakeModel([]);
    const [a, b, c] = words(probe, ' Bonjour', ' à', ' vous');
    const fake = new FakeModel(script([a!, b!, c!], [5, 15, 25]));
    const u = await new AlignAttSession(fake.asLoadedModel(), { language: 'fr', beams: 3 }).process(audio(1.2));
    assert.deepEqual(u.tokens, [a, b, c]);
    // OpenAI's beam search goes on past the best row's <|endoftext|> until three sequences ended;
    // the rows left attend to the end of the audio, so the AlignAtt rule stops it
    assert.equal(u.stop, 'threshold');
  });
});

describe('AlignAttDecoder catch-up', () => {
  async function run(catchUp: boolean, chunks: AudioChunk[]): Promise<{ updates: number; received: number; merged: number }> {
    const s = new AlignAttSession(new FakeModel([]).asLoadedModel(), { language: 'fr' });
    const d = new AlignAttDecoder(s, { catchUp: () => catchUp });
    let updates = 0;
    d.on('data', () => updates++);
    const ended = new Promise((r) => d.on('end', r));
    d.cork(); // everything waits, as when the machine is behind
    for (const c of chunks) d.write(c);
    d.uncork();
    d.end();
    await ended;
    return { updates, received: s.audioReceived, merged: d.merged };
  }
  const chunk = (n: number, extra: Partial<AudioChunk> = {}): AudioChunk => ({ samples: new Float32Array(n), last: false, ...extra });

  it('a stream that fell behind decodes its waiting chunks as one iteration; every sample is kept', async () => {
    const chunks = [chunk(8000), chunk(8000), chunk(8000), chunk(4000, { last: true })];
    assert.deepEqual(await run(false, chunks), { updates: 4, received: 1.75, merged: 0 });
    assert.deepEqual(await run(true, chunks), { updates: 1, received: 1.75, merged: 1 });
  });

  it('never merges across an utterance end or a skipped silence', async () => {
    const chunks = [chunk(8000), chunk(8000, { utteranceEnd: true }), chunk(8000, { gap: 16000 }), chunk(8000), chunk(0, { last: true })];
    const r = await run(true, chunks);
    assert.equal(r.updates, 2); // [0,1] ends the utterance, [2,3,4] after the gap
    assert.equal(r.received, 3);
  });
});

describe('AlignAttDecoder backpressure', () => {
  it('a reader that does not read holds the decoding back, whether chunks come one by one or several at once', async () => {
    for (const catchUp of [undefined, () => false, () => true]) {
      const lm = new FakeModel([]).asLoadedModel();
      let encodes = 0;
      const model = new Proxy(lm.model, { get: (t, p) => (p === 'encode' ? (...a: unknown[]) => (encodes++, (t.encode as (...x: unknown[]) => unknown)(...a)) : Reflect.get(t, p)) });
      const dec = new AlignAttDecoder(new AlignAttSession({ ...lm, model }, { language: 'fr' }), catchUp ? { catchUp } : {});
      const chunks = Array.from({ length: 24 }, (): AudioChunk => ({ samples: audio(0.2), last: false }));
      for (const c of chunks) dec.write(c);
      // nobody reads: once its readable side is full, no further iteration runs
      for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
      const held = encodes;
      assert.ok(held > 0 && held <= dec.readableHighWaterMark + 1, `${held} iterations ran unread (catch-up ${String(catchUp?.())})`);
      const updates: unknown[] = [];
      dec.on('data', (u) => updates.push(u));
      dec.end();
      await new Promise<void>((r) => dec.on('end', () => r()));
      assert.ok(encodes > held, 'reading lets it go on');
      assert.equal(updates.length, catchUp?.() ? updates.length : 24 + 1, 'every chunk, then the final pass');
    }
  });
});
