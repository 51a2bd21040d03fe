import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tokenizer } from '../lib/text/tokenizer.js';
import { referenceManifest } from './helpers/fixtures.js';

const manifest = referenceManifest();

test('multilingual tokenizer encodes and decodes every reference case as OpenAI does', () => {
  const tok = Tokenizer.forVocabSize(51865);
  for (const c of manifest.tokenizer) {
    assert.deepEqual(tok.encode(c.text), c.tokens, c.text);
    assert.equal(tok.decode(c.tokens), c.text);
  }
});

test('special tokens of the multilingual vocabulary match OpenAI', () => {
  const s = Tokenizer.forVocabSize(51865).special;
  const want = manifest.special_tokens;
  assert.equal(s.eot, want.eot);
  assert.equal(s.sot, want.sot);
  assert.equal(s.transcribe, want.transcribe);
  assert.equal(s.translate, want.translate);
  assert.equal(s.sotPrev, want.sot_prev);
  assert.equal(s.noSpeech, want.no_speech);
  assert.equal(s.noTimestamps, want.no_timestamps);
  assert.equal(s.timestampBegin, want.timestamp_begin);
  assert.equal(Tokenizer.forVocabSize(51865).languageToken('en'), want.en);
  assert.equal(Tokenizer.forVocabSize(51865).languageToken('fr'), 50265);
});

test('.en vocabulary (51864) sits one lower; large-v3 (51866) shifts after the languages', () => {
  const en = Tokenizer.forVocabSize(51864);
  assert.equal(en.special.eot, 50256);
  assert.equal(en.special.sot, 50257);
  assert.equal(en.special.noTimestamps, 50362);
  assert.equal(en.multilingual, false);
  assert.deepEqual(en.encode(' And so my fellow Americans'), [843, 523, 616, 5891, 3399]);
  const v3 = Tokenizer.forVocabSize(51866);
  assert.equal(v3.special.transcribe, 50360);
  assert.equal(v3.special.noTimestamps, 50364);
  assert.equal(v3.languageToken('yue'), 50358);
});

test('a token that ends inside a multi-byte character decodes to bytes, not text', () => {
  const tok = Tokenizer.forVocabSize(51865);
  // " emoji 🙂 ok": 🙂 spans tokens 7385, 247, 224
  const bytes = tok.decodeBytes([7385, 247]);
  assert.equal(Buffer.from(bytes).toString('utf8').endsWith('\ufffd'), true);
  assert.equal(Buffer.from(tok.decodeBytes([7385, 247, 224])).toString('utf8'), ' 🙂');
});

test('unknown language is a clear error', () => {
  assert.throws(() => Tokenizer.forVocabSize(51865).languageToken('xx'), { code: 'ERR_UNKNOWN_LANGUAGE' });
});
