// Numerics against OpenAI's own code on the random-weight reference model (whisper-reference).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { readAudioFile } from '../lib/audio/wav.js';
import { detectLanguage } from '../lib/decode/language.js';
import { transcribeOffline } from '../lib/decode/offline.js';
import { type LoadedModel, loadModel } from '../lib/model/load-model.js';
import { REF_FIXTURES, SHARED, readF32, referenceManifest, relativeError, testCacheDir } from './helpers/fixtures.js';

const manifest = referenceManifest();
const ALL_HEADS = '0,0;0,1;1,0;1,1';

interface Source {
  file: string;
  /** Allowed relative error of encoder output, logits and attention. */
  tolerance: number;
}

const sources: Source[] = [
  // f16 weights: each weight is rounded to 11 significant bits (relative error ≤ 2^-11 ≈ 4.9e-4),
  // which accumulates over the layers; measured 2.7e-4 (encoder) and 4.9e-4 (logits). 2e-3 bounds it.
  { file: path.join(REF_FIXTURES, 'ggml-ref-f16.bin'), tolerance: 2e-3 },
];
if (SHARED) {
  sources.push({ file: path.join(SHARED, 'whisper-reference', 'ref-model.pt'), tolerance: 1e-3 });
  sources.push({ file: path.join(SHARED, 'whisper-reference', 'ggml-ref-f32.bin'), tolerance: 1e-3 });
}

const audios = [{ name: 'jfk', dir: REF_FIXTURES }];
if (SHARED) audios.push({ name: 'fr-sample', dir: path.join(SHARED, 'whisper-reference') });

for (const src of sources) {
  describe(`reference model from ${path.basename(src.file)}`, () => {
    let lm: LoadedModel;
    const load = async (): Promise<LoadedModel> => {
      lm ??= await loadModel({ modelPath: src.file, cacheDir: testCacheDir(), alignmentHeads: ALL_HEADS });
      return lm;
    };
    after(async () => lm?.release());

    for (const a of audios) {
      const samples = () => readAudioFile(path.join(a.dir, `${a.name}.wav`)).samples;
      const vec = (kind: string) => readF32(path.join(a.dir, 'vectors', `${a.name}.${kind}.f32`));
      const ref = manifest.audio[a.name]!;

      test(`${a.name}: log-mel within 1e-4 absolute`, async () => {
        const m = await load();
        const mel = m.createMel().compute(samples());
        const want = vec('mel');
        let max = 0;
        for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(mel[i]! - want[i]!));
        assert.ok(max <= 1e-4, `mel max abs error ${max}`);
      });

      test(`${a.name}: encoder, teacher-forced logits and cross-attention within ${src.tolerance} relative`, async () => {
        const m = await load();
        const audio = await m.model.encode(vec('mel'), 1, true);
        const encErr = relativeError(audio.features!, vec('encoder'));
        assert.ok(encErr <= src.tolerance, `encoder relative error ${encErr}`);
        const T = ref.prefix_tokens.length;
        const out = await m.model.decode({ tokens: [ref.prefix_tokens], cache: m.model.emptyCache(), audio, logitTokens: T });
        const logitErr = relativeError(out.logits, vec('prefix-logits'));
        assert.ok(logitErr <= src.tolerance, `logits relative error ${logitErr}`);
        // heads in (layer, head) order = the reference's [layers, heads, T, 1500] layout
        const attnErr = relativeError(out.attention, vec('cross-attn'));
        assert.ok(attnErr <= src.tolerance, `cross-attention relative error ${attnErr}`);
      });

      test(`${a.name}: KV-cache decoding one token at a time gives the same logits`, async () => {
        const m = await load();
        const audio = await m.model.encode(vec('mel'));
        const want = vec('prefix-logits');
        const V = m.dims.n_vocab;
        let out = await m.model.decode({ tokens: [ref.prefix_tokens.slice(0, 4)], cache: m.model.emptyCache(), audio });
        for (let i = 4; i < ref.prefix_tokens.length; i++) {
          out = await m.model.decode({ tokens: [[ref.prefix_tokens[i]!]], cache: out.cache, audio });
          const err = relativeError(out.logits, want.subarray(i * V, (i + 1) * V));
          assert.ok(err <= src.tolerance, `step ${i}: relative error ${err}`);
        }
      });

      test(`${a.name}: greedy and beam-3 tokens and detected language as OpenAI's`, async () => {
        const m = await load();
        const x = samples();
        const greedy = await transcribeOffline(m, x, { language: 'en', sampleLen: 40 });
        assert.deepEqual(greedy.windows[0]!.tokens, ref.greedy.tokens);
        assert.equal(greedy.text.trim(), ref.greedy.text); // OpenAI strips the decoded text
        const beam = await transcribeOffline(m, x, { language: 'en', sampleLen: 40, beams: 3 });
        assert.deepEqual(beam.windows[0]!.tokens, ref.beam3.tokens);
        const det = await detectLanguage(m.model, await m.model.encode(m.createMel().compute(x)), m.tokenizer);
        assert.deepEqual(
          det.probabilities.slice(0, 3).map(([l]) => l),
          ref.detect_language_top3.map(([l]) => l),
        );
        for (const [i, [, p]] of ref.detect_language_top3.entries()) {
          assert.ok(Math.abs(det.probabilities[i]![1] - p) < 2e-3, `language probability ${det.probabilities[i]} vs ${p}`);
        }
        const auto = await transcribeOffline(m, x, { language: 'auto', sampleLen: 5 });
        assert.equal(auto.language, ref.detect_language_top3[0]![0]);
      });
    }
  });
}
