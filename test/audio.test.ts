import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import wavefile from 'wavefile';
import { melFilters } from '../lib/audio/mel-filters.js';
import { s16leToFloat } from '../lib/audio/pcm.js';
import { readAudioFile } from '../lib/audio/wav.js';
import { openCheckpoint } from '../lib/model/load-checkpoint.js';
import { REF_FIXTURES, tempDir } from './helpers/fixtures.js';

const tmp = tempDir();

test('librosa Slaney mel filters equal the ones whisper.cpp stores', async () => {
  const ck = await openCheckpoint(path.join(REF_FIXTURES, 'ggml-ref-f16.bin'));
  const ours = melFilters(80);
  let max = 0;
  for (let i = 0; i < ours.length; i++) max = Math.max(max, Math.abs(ours[i]! - ck.melFilters![i]!));
  ck.close();
  assert.ok(max < 1e-7, `max difference ${max}`);
  assert.equal(melFilters(128).length, 128 * 201);
});

test('a 16 kHz mono WAV reads as its samples / 32768; raw s16le reads the same', () => {
  const wav = readAudioFile(path.join(REF_FIXTURES, 'jfk.wav'));
  assert.equal(wav.sourceRate, 16000);
  assert.equal(wav.samples.length, 176000);
  const w = new wavefile.WaveFile(fs.readFileSync(path.join(REF_FIXTURES, 'jfk.wav')));
  const raw = Buffer.from((w.data as { samples: Uint8Array }).samples);
  const f = path.join(tmp, 'jfk.raw');
  fs.writeFileSync(f, raw);
  assert.deepEqual(readAudioFile(f).samples, wav.samples);
  assert.deepEqual(s16leToFloat(raw).subarray(0, 4), wav.samples.subarray(0, 4));
});

test('an 8 kHz stereo WAV is mixed to mono and resampled to 16 kHz', () => {
  const n = 8000;
  const left = new Int16Array(n);
  const right = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    left[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000));
    right[i] = left[i]!;
  }
  const w = new wavefile.WaveFile();
  w.fromScratch(2, 8000, '16', [left, right]);
  const f = path.join(tmp, 'tone8k.wav');
  fs.writeFileSync(f, w.toBuffer());
  const a = readAudioFile(f);
  assert.equal(a.sourceRate, 8000);
  assert.equal(a.sourceChannels, 2);
  assert.ok(Math.abs(a.samples.length - 16000) <= 2, `length ${a.samples.length}`);
  // a 440 Hz tone of amplitude 8000/32768 at 16 kHz. wavefile pins both ends of the file, so the
  // tone may lag by up to a sample or two: compare at the best lag.
  const amp = 8000 / 32768;
  let peak = 0;
  for (let i = 2000; i < 14000; i++) peak = Math.max(peak, Math.abs(a.samples[i]!));
  assert.ok(Math.abs(peak - amp) < 0.02 * amp, `amplitude ${peak}, expected ${amp}`);
  let best = Number.POSITIVE_INFINITY;
  for (let lag = -2; lag <= 2; lag += 0.25) {
    let err = 0;
    for (let i = 2000; i < 14000; i++) err = Math.max(err, Math.abs(a.samples[i]! - amp * Math.sin((2 * Math.PI * 440 * (i - lag)) / 16000)));
    best = Math.min(best, err);
  }
  assert.ok(best < 0.05 * amp * 4, `resampled tone deviates by ${best}`);
});
