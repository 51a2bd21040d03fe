// Random-weight models with the exact shapes of official models compile and decode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { transcribeOffline } from '../lib/decode/offline.js';
import { OFFICIAL_DIMS } from '../lib/model/dims.js';
import { loadModel } from '../lib/model/load-model.js';
import { randomCheckpoint } from '../lib/model/random-checkpoint.js';
import { SKIP_SLOW, tempDir } from './helpers/fixtures.js';

function oneSecondOfAudio(): Float32Array {
  const x = new Float32Array(16000);
  for (let i = 0; i < x.length; i++) x[i] = 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000) * Math.sin((Math.PI * i) / x.length);
  return x;
}

for (const name of ['tiny', 'base', 'large-v3'] as const) {
  test(`a random-weight model of ${name}'s shape compiles and decodes one second of audio`, { skip: name === 'large-v3' ? SKIP_SLOW : false, timeout: 900_000 }, async () => {
    const cacheDir = tempDir(`simulstream-${name}-`);
    const lm = await loadModel({ checkpoint: randomCheckpoint(name, 7), cacheDir });
    try {
      const d = OFFICIAL_DIMS[name]!;
      assert.deepEqual(lm.dims, d);
      assert.equal(lm.tokenizer.nVocab, d.n_vocab);
      const r = await transcribeOffline(lm, oneSecondOfAudio(), { language: 'fr', sampleLen: name === 'large-v3' ? 32 : 224 });
      assert.equal(r.windows.length, 1);
      // a full decode: it ended at <|endoftext|> or at the sample length, every token a text token
      assert.ok(r.windows[0]!.tokens.length <= 224);
      const s = lm.tokenizer.special;
      const banned = [s.eot, s.sot, s.transcribe, s.translate, s.sotPrev, s.sotLm, s.noSpeech];
      assert.ok(r.windows[0]!.tokens.every((t) => t >= 0 && t < d.n_vocab && !banned.includes(t)));
      const step = await lm.model.decode({ tokens: [[lm.tokenizer.special.sot]], cache: lm.model.emptyCache(), audio: await lm.model.encode(lm.createMel().compute(oneSecondOfAudio())) });
      assert.equal(step.logits.length, d.n_vocab);
      assert.equal(step.attention.length, lm.alignmentHeads.length * 1500);
      assert.ok(step.logits.every(Number.isFinite));
    } finally {
      await lm.release();
    }
  });
}
