// Any audio file, or a clear no: what `transcribe` makes of WAV (every layout), raw PCM, stdin, the
// compressed formats through ffmpeg (made at test time from a bundled WAV, compared with it), and
// of what it cannot read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { openAudio, type OpenAudioOptions } from '../lib/audio/audio-source.js';
import { ffmpegDecode } from '../lib/audio/ffmpeg-decoder.js';
import { parseWavHeader } from '../lib/audio/wav-header.js';
import { readAudioFile } from '../lib/audio/wav.js';
import { SimulstreamError } from '../lib/errors.js';
import { findProgram } from '../lib/util/find-program.js';
import { runCli, toyModelArgs } from './helpers/cli.js';
import { TOY, tempDir, toyPcm } from './helpers/fixtures.js';

const FFMPEG = findProgram('ffmpeg', process.env.PATH);
const SKIP_FFMPEG = FFMPEG ? false : 'needs ffmpeg (apt-get install ffmpeg; .ci/run installs it)';
const WAV = path.join(TOY, 'fr-000.wav');
/** The WAV's samples: the reference every decoded form is compared with. */
const PCM = toyPcm('fr-000.wav');
const SAMPLES = new Int16Array(PCM.buffer.slice(PCM.byteOffset, PCM.byteOffset + PCM.length));

async function decode(input: string, opts: OpenAudioOptions = {}): Promise<{ bytes: Buffer; decoder: string; container: string; warning: string | undefined }> {
  const a = await openAudio(input, opts);
  const parts: Buffer[] = [];
  for await (const b of a.stream) parts.push(b as Buffer);
  return { bytes: Buffer.concat(parts), decoder: a.decoder, container: a.container, warning: a.warning };
}

interface WavSpec {
  readonly rate?: number;
  readonly channels?: number;
  readonly bits?: 8 | 16 | 24 | 32 | 64;
  readonly float?: boolean;
  /** Chunks written between `fmt ` and `data`. */
  readonly extra?: readonly [string, Buffer][];
  /** The data chunk's declared size (default: the real one). */
  readonly dataSize?: number;
  /** WAVE_FORMAT_EXTENSIBLE header. */
  readonly extensible?: boolean;
}

/** A WAV file of the reference samples in any layout (each channel the same signal). */
function wav(samples: Int16Array, spec: WavSpec = {}): Buffer {
  const { rate = 16000, channels = 1, bits = 16, float = false } = spec;
  const width = bits / 8;
  const data = Buffer.alloc(samples.length * channels * width);
  for (let i = 0; i < samples.length; i++) {
    for (let c = 0; c < channels; c++) {
      const at = (i * channels + c) * width;
      const s = samples[i]!;
      if (float && bits === 32) data.writeFloatLE(s / 32768, at);
      else if (float) data.writeDoubleLE(s / 32768, at);
      else if (bits === 8) data[at] = Math.round(s / 256) + 128;
      else if (bits === 16) data.writeInt16LE(s, at);
      else if (bits === 24) data.writeIntLE(s * 256, at, 3);
      else data.writeInt32LE(s * 65536, at);
    }
  }
  const tag = float ? 3 : 1;
  const fmt = Buffer.alloc(spec.extensible ? 40 : 16);
  fmt.writeUInt16LE(spec.extensible ? 0xfffe : tag, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE(rate * channels * width, 8);
  fmt.writeUInt16LE(channels * width, 12);
  fmt.writeUInt16LE(bits, 14);
  if (spec.extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(bits, 18);
    fmt.writeUInt16LE(tag, 24); // the sub-format GUID starts with the format tag
  }
  const chunk = (id: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'latin1');
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const dataChunk = chunk('data', data);
  if (spec.dataSize !== undefined) dataChunk.writeUInt32LE(spec.dataSize, 4);
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', fmt), ...(spec.extra ?? []).map(([id, b]) => chunk(id, b)), dataChunk]);
  return Buffer.concat([Buffer.from('RIFF'), Buffer.from(Uint32Array.of(body.length).buffer), body]);
}

function write(name: string, bytes: Buffer): string {
  const f = path.join(tempDir(), name);
  fs.writeFileSync(f, bytes);
  return f;
}

/** Signal-to-noise ratio (dB) of `got` against the reference, sample for sample. */
function snr(got: Buffer): number {
  const x = new Int16Array(got.buffer.slice(got.byteOffset, got.byteOffset + got.length));
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < SAMPLES.length; i++) {
    signal += SAMPLES[i]! ** 2;
    noise += (SAMPLES[i]! - (x[i] ?? 0)) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

const isCode = (code: string, message?: RegExp) => (e: unknown) => e instanceof SimulstreamError && e.code === code && (!message || message.test(e.message));

describe('audio input: WAV, raw PCM, stdin', () => {
  it('a 16 kHz mono 16-bit WAV: its data bytes, untouched', async () => {
    const r = await decode(WAV);
    assert.equal(r.decoder, 'wav');
    assert.deepEqual(r.bytes, PCM);
    assert.equal(r.warning, undefined);
  });

  it('every 16 kHz layout streams to the same samples: stereo, 8/24/32-bit, float, extensible, chunks before data, a streaming header', async () => {
    const exact: [string, WavSpec][] = [
      ['stereo 16-bit', { channels: 2 }],
      ['3 channels 24-bit', { channels: 3, bits: 24 }],
      ['32-bit int', { bits: 32 }],
      ['stereo float32', { channels: 2, bits: 32, float: true }],
      ['float64', { bits: 64, float: true }],
      ['extensible float32', { bits: 32, float: true, extensible: true }],
      ['LIST and odd-sized chunks before data', { extra: [['LIST', Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00')], ['junk', Buffer.alloc(3)]] }],
      ['data size 0 (written to a pipe)', { dataSize: 0 }],
      ['data size 0xFFFFFFFF', { dataSize: 0xffffffff }],
    ];
    for (const [what, spec] of exact) {
      const r = await decode(write('a.wav', wav(SAMPLES, spec)));
      assert.equal(r.decoder, 'wav', what);
      assert.deepEqual(r.bytes, PCM, what);
    }
    // 8-bit keeps the top 8 bits: within half a step of 256
    const r8 = await decode(write('a.wav', wav(SAMPLES, { bits: 8 })));
    assert.equal(r8.bytes.length, PCM.length);
    const got = new Int16Array(r8.bytes.buffer.slice(r8.bytes.byteOffset, r8.bytes.byteOffset + r8.bytes.length));
    assert.ok(got.every((v, i) => Math.abs(v - SAMPLES[i]!) <= 128 + 1), '8-bit');
    // a declared size shorter than the file: what follows the data chunk is not audio
    const trailer = Buffer.concat([wav(SAMPLES.subarray(0, 1000)), Buffer.from('LIST\x04\x00\x00\x00abcd')]);
    assert.deepEqual((await decode(write('t.wav', trailer))).bytes, PCM.subarray(0, 2000));
  });

  it('another rate: resampled by ffmpeg when there is one, else by wavefile in memory with a note; readAudioFile agrees', { skip: SKIP_FFMPEG }, async () => {
    const at8k = write('8k.wav', wav(SAMPLES.filter((_, i) => i % 2 === 0), { rate: 8000 }));
    const viaFfmpeg = await decode(at8k, { ffmpeg: FFMPEG });
    assert.equal(viaFfmpeg.decoder, 'ffmpeg');
    const inMemory = await decode(at8k);
    assert.equal(inMemory.decoder, 'wavefile');
    assert.match(inMemory.warning!, /8 kHz mono 16-bit resampled to 16 kHz in memory \(install ffmpeg to stream it\)/u);
    for (const r of [viaFfmpeg, inMemory]) {
      assert.ok(Math.abs(r.bytes.length - PCM.length) <= 4, `${r.decoder}: ${r.bytes.length} bytes`);
      assert.ok(snr(r.bytes) > 6, `${r.decoder}: ${snr(r.bytes)} dB`); // the upper half of the band is gone
    }
    assert.equal(readAudioFile(at8k).samples.length * 2, inMemory.bytes.length, 'the offline reader resamples the same way');
  });

  it('raw PCM passes as it is; a file that does not look like audio gets a note unless --format raw', async () => {
    const raw = write('call.raw', PCM);
    assert.deepEqual((await decode(raw)).bytes, PCM);
    assert.equal((await decode(raw)).warning, undefined);
    const bin = write('noise.bin', PCM);
    assert.match((await decode(bin)).warning!, /noise\.bin: no audio header recognised; reading it as raw PCM .*--format raw says so/u);
    assert.equal((await decode(bin, { format: 'raw' })).warning, undefined);
    await assert.rejects(decode(bin, { format: 'wav' }), isCode('ERR_AUDIO_FORMAT', /--format wav, but the input has no RIFF\/WAVE header/u));
    // an input shorter than a header is still raw PCM
    assert.deepEqual((await decode(write('tiny.raw', PCM.subarray(0, 6)))).bytes, PCM.subarray(0, 6));
  });

  it('stdin (-): raw PCM or WAV, sniffed', async () => {
    const r1 = await decode('-', { stdin: Readable.from([PCM.subarray(0, 5), PCM.subarray(5)]) });
    assert.deepEqual([r1.decoder, r1.bytes.equals(PCM)], ['raw', true]);
    const file = fs.readFileSync(WAV);
    const r2 = await decode('-', { stdin: Readable.from([file.subarray(0, 3), file.subarray(3, 50), file.subarray(50)]) });
    assert.deepEqual([r2.decoder, r2.bytes.equals(PCM)], ['wav', true]);
  });

  it('empty or unreadable input: a coded error', async () => {
    await assert.rejects(decode(write('e.wav', Buffer.alloc(0))), isCode('ERR_AUDIO_EMPTY', /e\.wav: the input is empty/u));
    await assert.rejects(decode('-', { stdin: Readable.from([]) }), isCode('ERR_AUDIO_EMPTY', /^stdin: the input is empty/u));
    await assert.rejects(decode(write('h.wav', wav(new Int16Array(0)))), isCode('ERR_AUDIO_EMPTY', /h\.wav: no audio samples/u));
    await assert.rejects(decode('/nonexistent/x.wav'), isCode('ERR_AUDIO_INPUT', /no such file$/u));
    const cut = fs.readFileSync(WAV).subarray(0, 30);
    await assert.rejects(decode(write('cut.wav', cut)), isCode('ERR_AUDIO_FORMAT', /not a readable WAV file \(the file ends inside its header\)/u));
    const head = wav(SAMPLES);
    assert.equal(parseWavHeader(head.subarray(0, 20)).kind, 'need-more');
    // the offline reader sniffs the same way
    assert.throws(() => readAudioFile(write('e.wav', Buffer.alloc(0))), isCode('ERR_AUDIO_EMPTY'));
    assert.throws(() => readAudioFile(write('c.flac', Buffer.from('fLaC\x00\x00\x00\x22', 'latin1'))), isCode('ERR_FFMPEG_MISSING', /FLAC audio needs ffmpeg/u));
  });
});

describe('audio input: compressed formats', () => {
  const MAGIC: [string, Buffer][] = [
    ['MP3', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00', 'latin1')],
    ['MP3', Buffer.from([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['FLAC', Buffer.from('fLaC\x00\x00\x00\x22\x00\x00\x00\x00', 'latin1')],
    ['Ogg', Buffer.from('OggS\x00\x02\x00\x00\x00\x00\x00\x00', 'latin1')],
    ['MP4/M4A', Buffer.from('\x00\x00\x00\x1cftypM4A \x00\x00', 'latin1')],
    ['WebM/Matroska', Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 1, 0x42, 0xf7, 0x81])],
  ];

  it('without ffmpeg: one line naming the format and the command that converts it', async () => {
    for (const [name, magic] of MAGIC) {
      const f = write('call.audio', Buffer.concat([magic, Buffer.alloc(4000)]));
      await assert.rejects(decode(f), isCode('ERR_FFMPEG_MISSING', new RegExp(`call\\.audio: ${name.replace('/', '\\/')} audio needs ffmpeg, which is not on the PATH; .*ffmpeg -i \\S+call\\.audio -ar 16000 -ac 1 call\\.wav$`, 'u')));
    }
    const f = write('call.mp3', Buffer.concat([MAGIC[0]![1], Buffer.alloc(4000)]));
    const r = await runCli(['transcribe', f, ...toyModelArgs(), '--language', 'fr'], { env: { ...process.env, PATH: '/nonexistent' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^simulstream: \S+call\.mp3: MP3 audio needs ffmpeg[^\n]*\n$/u);
  });

  /** The bundled WAV converted by ffmpeg: name → [ffmpeg arguments, lossless]. */
  const CONVERSIONS: [string, string[], boolean][] = [
    ['call.flac', [], true],
    ['call.ogg', ['-c:a', 'flac'], true],
    ['call.m4a', ['-c:a', 'alac'], true],
    ['call.mka', ['-c:a', 'flac'], true],
    ['call.mp3', [], false],
    ['call.webm', ['-c:a', 'libopus'], false],
  ];

  it('through ffmpeg: lossless files give the WAV\'s samples exactly, lossy ones within 15 dB; the transcript of a lossless file is the WAV\'s', { skip: SKIP_FFMPEG }, async () => {
    const dir = tempDir();
    const wavOut = await runCli(['transcribe', WAV, ...toyModelArgs(), '--language', 'fr', '--min-chunk-size', '0.5']);
    assert.equal(wavOut.code, 0, wavOut.stderr);
    for (const [name, args, lossless] of CONVERSIONS) {
      const f = path.join(dir, name);
      const made = spawnSync(FFMPEG!, ['-nostdin', '-loglevel', 'error', '-y', '-i', WAV, ...args, f]);
      assert.equal(made.status, 0, `${name}: ${String(made.stderr)}`);
      const r = await decode(f, { ffmpeg: FFMPEG });
      assert.equal(r.decoder, 'ffmpeg', name);
      if (lossless) assert.ok(r.bytes.equals(PCM), `${name}: the same samples`);
      else {
        assert.ok(Math.abs(r.bytes.length - PCM.length) <= 1024, `${name}: ${r.bytes.length} vs ${PCM.length} bytes`);
        assert.ok(snr(r.bytes) > 15, `${name}: ${snr(r.bytes).toFixed(1)} dB`);
      }
      const out = await runCli(['transcribe', f, ...toyModelArgs(), '--language', 'fr', '--min-chunk-size', '0.5']);
      assert.equal(out.code, 0, `${name}: ${out.stderr}`);
      if (lossless) assert.equal(out.stdout, wavOut.stdout, name);
      else assert.ok(out.stdout.length > 0, name);
    }
    const offline = readAudioFile(path.join(dir, 'call.flac'), { ffmpeg: FFMPEG! }).samples;
    assert.deepEqual(offline, readAudioFile(WAV).samples, 'readAudioFile decodes through ffmpeg too');
    // stdin: a compressed stream goes through ffmpeg's stdin
    const mp3 = fs.readFileSync(path.join(dir, 'call.flac'));
    const fromStdin = await decode('-', { stdin: Readable.from([mp3]), ffmpeg: FFMPEG });
    assert.ok(fromStdin.bytes.equals(PCM));
  });

  it('ffmpeg failing: ERR_FFMPEG with its last line; a pipeline that fails kills it', { skip: SKIP_FFMPEG }, async () => {
    const bad = write('bad.mp3', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00 this is no mp3', 'latin1'));
    await assert.rejects(decode(bad, { ffmpeg: FFMPEG }), isCode('ERR_FFMPEG', /bad\.mp3: ffmpeg failed \(exit code \d+\): .+/u));
    const r = await runCli(['transcribe', bad, ...toyModelArgs(), '--language', 'fr']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^simulstream: \S+bad\.mp3: ffmpeg failed[^\n]*\n$/mu);
    assert.equal(r.stderr.match(/^simulstream: /gmu)?.length, 1);
    // a long input: destroy the stream after its first bytes; ffmpeg is killed, not left running
    const long = path.join(tempDir(), 'long.flac');
    assert.equal(spawnSync(FFMPEG!, ['-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=600', '-ar', '16000', long]).status, 0);
    const s = ffmpegDecode({ ffmpeg: FFMPEG!, input: long, name: 'long.flac' });
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => s.ffmpeg.once('exit', (_code, signal) => resolve(signal)));
    s.destroy();
    assert.equal(await exited, 'SIGKILL');
  });
});
