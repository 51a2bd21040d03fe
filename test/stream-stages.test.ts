import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { LogMel, N_FRAMES, fittedWindowFrames } from '../lib/audio/mel.js';
import { StreamingLogMel } from '../lib/audio/streaming-mel.js';
import { SimulstreamError } from '../lib/errors.js';
import { AttentionTracker, medianFilter } from '../lib/policy/attention.js';
import { repetitionStart } from '../lib/policy/repetition.js';
import { splitToWordTokens } from '../lib/policy/words.js';
import { ChunkBuffer, type AudioChunk } from '../lib/stream/chunk-buffer.js';
import { formatLine, formatMs } from '../lib/stream/line-format.js';
import { PcmValidator } from '../lib/stream/pcm-validator.js';
import { Utf8Carry, incompleteTail, type Segment } from '../lib/stream/utf8-carry.js';
import type { RawSegment } from '../lib/stream/segment-formatter.js';
import { Tokenizer } from '../lib/text/tokenizer.js';

async function collect<T>(stream: NodeJS.ReadWriteStream, inputs: unknown[]): Promise<T[]> {
  const out: T[] = [];
  stream.on('data', (d: T) => out.push(d));
  await pipeline(Readable.from(inputs, { objectMode: true }), stream);
  return out;
}

describe('PcmValidator', () => {
  it('turns s16le bytes into samples and carries an odd byte to the next write', async () => {
    const bytes = Buffer.alloc(8);
    [0, 16384, -32768, 32767].forEach((v, i) => bytes.writeInt16LE(v, 2 * i));
    const parts = [bytes.subarray(0, 3), bytes.subarray(3, 5), bytes.subarray(5)];
    const out = await collect<Float32Array>(new PcmValidator(), parts);
    const samples = out.flatMap((a) => [...a]);
    assert.deepEqual(samples, [0, 0.5, -1, 32767 / 32768]);
  });

  it('rejects a WAV header with ERR_WAV_HEADER, naming the expected format', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt '), Buffer.alloc(100)]);
    // split inside the header: still recognised
    await assert.rejects(
      collect(new PcmValidator(), [wav.subarray(0, 5), wav.subarray(5)]),
      (e: unknown) =>
        e instanceof SimulstreamError &&
        e.code === 'ERR_WAV_HEADER' &&
        e.message.includes('WAV (RIFF/WAVE) header') &&
        e.message.includes('signed 16-bit little-endian, 16 kHz, mono'),
    );
  });

  it('accepts raw audio that happens to start with "RI"', async () => {
    const out = await collect<Float32Array>(new PcmValidator(), [Buffer.from('RIxx')]);
    assert.equal(out.flatMap((a) => [...a]).length, 2);
  });

  it('warns about a lone byte at the very end', async () => {
    const v = new PcmValidator();
    let warned = '';
    v.on('warning', (e: Error) => (warned = e.message));
    await collect(v, [Buffer.alloc(5)]);
    assert.match(warned, /middle of a 16-bit sample/);
  });
});

describe('ChunkBuffer', () => {
  it('cuts exact chunks whatever the write sizes, and sends the remainder marked last', async () => {
    const input = Float32Array.from({ length: 1000 }, (_, i) => i);
    const writes = [input.subarray(0, 1), input.subarray(1, 334), input.subarray(334)];
    const out = await collect<AudioChunk>(new ChunkBuffer(300 / 16000), writes);
    assert.deepEqual(
      out.map((c) => [c.samples.length, c.last, c.samples[0]]),
      [
        [300, false, 0],
        [300, false, 300],
        [300, false, 600],
        [100, true, 900],
      ],
    );
  });
});

describe('ChunkBuffer, SimulStreaming\'s file loop (--comp_unaware)', () => {
  it('ends chunk k at int(e_k * 16000), e_k summed in floating point; the remainder is ordinary, then an empty last chunk', async () => {
    const input = new Float32Array(64000); // 4 s
    const writes: Float32Array[] = [];
    for (let i = 0; i < input.length; i += 777) writes.push(input.subarray(i, i + 777));
    const out = await collect<AudioChunk>(new ChunkBuffer(1.2, 'simulstreaming'), writes);
    // 1.2 + 1.2 + 1.2 = 3.5999999999999996: the third chunk is one sample short, as in SimulStreaming
    assert.deepEqual(
      out.map((c) => [c.samples.length, c.last, c.at]),
      [
        [19200, false, 1.2],
        [19200, false, 2.4],
        [19199, false, 3.5999999999999996],
        [6401, false, 4],
        [0, true, 4],
      ],
    );
  });

  it('a file shorter than one chunk is one ordinary chunk emitted at min_chunk_size, then the final pass', async () => {
    const out = await collect<AudioChunk>(new ChunkBuffer(1.2, 'simulstreaming'), [new Float32Array(8000)]);
    assert.deepEqual(
      out.map((c) => [c.samples.length, c.last, c.at]),
      [
        [8000, false, 1.2],
        [0, true, 0.5],
      ],
    );
  });
});

describe('line format', () => {
  it('is "%1.0f %1.0f %s\\n" with Python\'s rounding (half to even)', () => {
    assert.equal(formatLine(0, 1720.4, ' Takhle to je'), '0 1720  Takhle to je\n');
    assert.equal(formatMs(1234.5), '1234');
    assert.equal(formatMs(1235.5), '1236');
    assert.equal(formatMs(0.5), '0');
    assert.equal(formatMs(800.0000000000001), '800');
    assert.equal(formatMs(1400.5000001), '1401');
  });
});

describe('Utf8Carry', () => {
  const seg = (bytes: number[], start: number): RawSegment => ({
    start,
    end: start + 0.5,
    audioEnd: start + 1,
    bytes: Uint8Array.from(bytes),
    words: [],
    final: false,
    emitted: start + 1,
  });

  it('finds incomplete characters at the end of a byte string', () => {
    assert.equal(incompleteTail(Buffer.from('abc')), 0);
    assert.equal(incompleteTail(Buffer.from('é')), 0);
    assert.equal(incompleteTail(Buffer.from('é').subarray(0, 1)), 1);
    assert.equal(incompleteTail(Buffer.from('€').subarray(0, 2)), 2);
    assert.equal(incompleteTail(Buffer.from('😀').subarray(0, 3)), 3);
    assert.equal(incompleteTail(Buffer.from('a😀')), 0);
  });

  it('holds the bytes of a split character and prepends them to the next segment', async () => {
    const e = [...Buffer.from(' très é')];
    const out = await collect<Segment>(new Utf8Carry(), [seg(e.slice(0, 4), 0), seg(e.slice(4, 8), 1), seg(e.slice(8), 2)]);
    assert.deepEqual(
      out.map((s) => s.text),
      [' tr', 'ès ', 'é'],
    );
    assert.equal(out[0]!.startMs, 0);
    for (const s of out) assert.ok(!s.text.includes('\ufffd'));
  });

  it('at the end of the stream, a character still incomplete becomes U+FFFD (as StringDecoder.end() does), never dropped', async () => {
    const e = [...Buffer.from(' café')];
    const out = await collect<Segment>(new Utf8Carry(), [seg(e.slice(0, -1), 0)]);
    const { StringDecoder } = await import('node:string_decoder');
    const d = new StringDecoder('utf8');
    const want = d.write(Buffer.from(e.slice(0, -1))) + d.end();
    assert.equal(out.map((s) => s.text).join(''), want);
    assert.deepEqual(out.map((s) => s.text), [' caf', '\ufffd']);
    assert.equal(out[1]!.startMs, out[0]!.endMs, 'the last piece sits at the end of the line before it');
  });
});

describe('alignment attention', () => {
  it('median filter of width 7 matches the definition with reflect padding', () => {
    const x = Float64Array.from([5, 1, 9, 3, 7, 2, 8, 6, 4, 0]);
    const out = new Float64Array(x.length);
    medianFilter(x, out);
    const reflect = (j: number): number => (j < 0 ? -j : j >= x.length ? 2 * (x.length - 1) - j : j);
    const naive = [...x].map((_, i) => {
      const w = [-3, -2, -1, 0, 1, 2, 3].map((d) => x[reflect(i + d)]!).sort((a, b) => a - b);
      return w[3];
    });
    assert.deepEqual([...out], naive);
  });

  it('takes the z-normalised, filtered, head-averaged argmax of the newest token within the content', () => {
    const F = 100;
    const tr = new AttentionTracker(2, F);
    const row = (peak: number, width = 7): Float32Array => {
      const r = new Float32Array(F).fill(0.001);
      for (let f = peak; f < peak + width; f++) r[f] = 0.1;
      return r;
    };
    // [heads, T, frames] for 3 tokens: peaks at 10, 30, 50 for both heads
    const attn = new Float32Array(2 * 3 * F);
    [10, 30, 50].forEach((p, t) => {
      attn.set(row(p), (0 * 3 + t) * F);
      attn.set(row(p), (1 * 3 + t) * F);
    });
    tr.add(attn, 3);
    assert.equal(tr.mostAttendedFrame(F), 50);
    // cut to 40 content frames: the peak is out of reach; the newest token's best inside wins
    const inside = tr.mostAttendedFrame(40);
    assert.ok(inside < 40);
    // a single-frame spike is removed by the median filter; the 7-frame plateau wins
    const t2 = new AttentionTracker(1, F);
    const a = new Float32Array(2 * F).fill(0.001);
    a[F + 80] = 0.9;
    for (let f = 20; f < 27; f++) a[F + f] = 0.05;
    t2.add(a, 2);
    assert.equal(t2.mostAttendedFrame(F), 20);
    // one head pointing elsewhere is outvoted by the average when its evidence is weaker
    const t3 = new AttentionTracker(2, F);
    const b = new Float32Array(2 * 2 * F).fill(0.001);
    for (let f = 60; f < 67; f++) {
      b[(0 * 2 + 1) * F + f] = 0.2;
      b[(1 * 2 + 1) * F + f] = 0.2;
    }
    for (let f = 10; f < 17; f++) b[(1 * 2 + 1) * F + f] = 0.05;
    t3.add(b, 2);
    assert.equal(t3.mostAttendedFrame(F), 60);
  });
});

describe('repetition guard', () => {
  it('finds a loop of a repeated n-gram and keeps speech-like repetitions', () => {
    assert.equal(repetitionStart([1, 2, 3, 4]), -1);
    assert.equal(repetitionStart([9, 5, 5, 5]), -1); // "non, non, non"
    const loop = [7, 8, ...[1, 2, 3, 4].flatMap(() => [10, 11, 12, 13])];
    assert.equal(repetitionStart(loop), 6);
    assert.equal(repetitionStart(new Array(12).fill(3)), 1);
  });
});

describe('word splitting', () => {
  it('follows Whisper: words start at spaces and punctuation; split characters stay whole', () => {
    const t = Tokenizer.forVocabSize(51865);
    const tokens = t.encode(" Bonjour, l'Œuvre d'aujourd'hui.");
    const words = splitToWordTokens(t, tokens, 'fr');
    assert.equal(words.map((w) => w.text).join(''), " Bonjour, l'Œuvre d'aujourd'hui.");
    assert.equal(words[0]!.text, ' Bonjour');
    assert.equal(words[1]!.text, ',');
    assert.equal(words.at(-1)!.text, '.');
    for (const w of words) assert.ok(!w.text.includes('\ufffd'));
    assert.deepEqual(words.flatMap((w) => w.tokens), tokens);
  });
});

describe('StreamingLogMel', () => {
  it('equals the whole-buffer log-mel bit for bit while growing and after front drops', () => {
    const mel = new LogMel(80);
    const s = new StreamingLogMel(new LogMel(80));
    let buffer = new Float32Array(0);
    let seed = 7;
    const noise = (n: number): Float32Array =>
      Float32Array.from({ length: n }, () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return (seed / 2 ** 31 - 0.5) * 0.3;
      });
    const steps: [string, number][] = [
      ['add', 5000],
      ['add', 333],
      ['add', 19200],
      ['drop', 4800],
      ['add', 7],
      ['drop', 1001],
      ['add', 16000],
    ];
    for (const [op, n] of steps) {
      if (op === 'add') {
        const x = noise(n);
        s.append(x);
        const b = new Float32Array(buffer.length + n);
        b.set(buffer);
        b.set(x, buffer.length);
        buffer = b;
      } else {
        s.dropFront(n);
        buffer = buffer.slice(n);
      }
      assert.deepEqual(s.window(), mel.compute(buffer), `after ${op} ${n}`);
    }
  });
});

describe('fitted encoder windows (--encoder-window auto)', () => {
  it('round the buffered audio up to a multiple of 2 s, from 2 s to 30 s', () => {
    assert.deepEqual(
      [0, 1, 32000, 32001, 5 * 16000, 29.9 * 16000, 30 * 16000, 31 * 16000].map(fittedWindowFrames),
      [200, 200, 200, 400, 600, 3000, 3000, 3000],
    );
  });

  it('hold exactly the first columns of the 30 s log-mel, in one shot and streaming', () => {
    const mel = new LogMel(80);
    const audio = Float32Array.from({ length: 3.3 * 16000 }, (_, i) => 0.2 * Math.sin(i * 0.031) * Math.sin(i * 0.0007));
    const full = mel.compute(audio);
    const frames = fittedWindowFrames(audio.length);
    assert.equal(frames, 400);
    const fitted = mel.compute(audio, frames);
    assert.equal(fitted.length, 80 * frames);
    const s = new StreamingLogMel(new LogMel(80));
    s.append(audio);
    assert.deepEqual(s.window(frames), fitted);
    for (let m = 0; m < 80; m++) {
      assert.deepEqual(fitted.subarray(m * frames, (m + 1) * frames), full.subarray(m * N_FRAMES, m * N_FRAMES + frames), `mel ${m}`);
    }
    assert.throws(() => mel.compute(audio, 401), { code: 'ERR_INTERNAL' });
    assert.throws(() => mel.compute(audio, 3002), { code: 'ERR_INTERNAL' });
  });
});
