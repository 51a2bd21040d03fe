// The demo model (toy-whisper v3) against what OpenAI's own code computes on it
// (`../shared/toy-whisper-v3/reference/`, bundled as test/fixtures/toy/<clip>.reference.json).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readAudioFile } from '../lib/audio/wav.js';
import { transcribeOffline } from '../lib/decode/offline.js';
import { defaultAlignmentHeads } from '../lib/model/alignment-heads.js';
import { type LoadedModel, loadModel } from '../lib/model/load-model.js';
import { SHARED, TOY, TOY_CLIPS, testCacheDir } from './helpers/fixtures.js';

interface ToyReference {
  file: string;
  language: string;
  reference_text: string;
  log_mel: { mean: number; std: number; min: number; max: number; mel0_frames0_7: number[]; mel79_frames0_7: number[]; frame0_mels0_7: number[] };
  encoder: { pos0_dims0_7: number[]; pos1_dims0_7: number[]; pos1499_dims0_7: number[]; sum: number; abs_sum: number };
  decoding: { prompt: number[]; tokens: number[]; text: string };
  first_step_logits: { top5_ids: number[]; top5_values: number[] };
  alignment_heads_argmax_frame_per_query: { heads: Record<string, number[]> };
}

const reference = (clip: string): ToyReference =>
  JSON.parse(fs.readFileSync(path.join(TOY, `${clip}.reference.json`), 'utf8')) as ToyReference;

const N_FRAMES = 3000;
const N_CTX = 1500;
const EOT = 50257;

function near(got: number, want: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} vs OpenAI's ${want} (tolerance ${tol})`);
}

describe("the demo model (toy-whisper v3) against OpenAI's code", () => {
  let lm: LoadedModel;
  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(async () => lm?.release());

  it('has the heads of its alignment_heads.json by default', () => {
    const file = JSON.parse(fs.readFileSync(path.join(TOY, 'alignment_heads.json'), 'utf8')) as { alignment_heads: [number, number][] };
    assert.deepEqual(lm.alignmentHeads, file.alignment_heads);
    assert.deepEqual(file.alignment_heads, [[1, 2], [1, 3]]);
  });

  it('--alignment_heads still overrides the default (the attention output follows it)', async () => {
    const logs: string[] = [];
    const other = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir(), alignmentHeads: '1,0;0,3;1,0', log: (m) => logs.push(m) });
    try {
      assert.deepEqual(other.alignmentHeads, [[0, 3], [1, 0]]);
      const audio = await other.model.encode(other.createMel().compute(readAudioFile(path.join(TOY, 'fr-000.wav')).samples));
      const out = await other.model.decode({ tokens: [[50258, 50265, 50359, 50363]], cache: other.model.emptyCache(), audio });
      assert.equal(out.attention.length, 2 * 4 * N_CTX);
      assert.ok(!logs.some((l) => l.startsWith('alignment heads:')), 'no default was looked up');
    } finally {
      await other.release();
    }
    assert.equal(defaultAlignmentHeads(lm.dims).source, 'toy-whisper-v3 (recognised by its shape)');
    // only that exact shape: one more decoder layer falls back to the second half's heads
    assert.deepEqual(defaultAlignmentHeads({ ...lm.dims, n_text_layer: 3 }).heads, [[1, 0], [1, 1], [1, 2], [1, 3], [2, 0], [2, 1], [2, 2], [2, 3]]);
  });

  it('the bundled reference files are those of ../shared/toy-whisper-v3', { skip: SHARED ? false : 'needs ../shared' }, () => {
    for (const clip of TOY_CLIPS) {
      assert.deepEqual(reference(clip), JSON.parse(fs.readFileSync(path.join(SHARED!, 'toy-whisper-v3', 'reference', `${clip}.json`), 'utf8')), clip);
      assert.deepEqual(fs.readFileSync(path.join(TOY, `${clip}.wav`)), fs.readFileSync(path.join(SHARED!, 'toy-whisper-v3', 'test', `${clip}.wav`)), clip);
    }
    assert.deepEqual(fs.readFileSync(path.join(TOY, 'ggml-toy.bin')), fs.readFileSync(path.join(SHARED!, 'toy-whisper-v3', 'ggml-toy.bin')));
  });

  for (const clip of TOY_CLIPS) {
    describe(clip, () => {
      const ref = reference(clip);
      const samples = (): Float32Array => readAudioFile(path.join(TOY, `${clip}.wav`)).samples;

      it('log-mel statistics and first values within 1e-4', () => {
        const mel = lm.createMel().compute(samples());
        let sum = 0;
        let min = Number.POSITIVE_INFINITY;
        let max = Number.NEGATIVE_INFINITY;
        for (const v of mel) {
          sum += v;
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
        const mean = sum / mel.length;
        let sq = 0;
        for (const v of mel) sq += (v - mean) ** 2;
        near(mean, ref.log_mel.mean, 1e-4, 'mean');
        near(Math.sqrt(sq / mel.length), ref.log_mel.std, 1e-4, 'std');
        near(min, ref.log_mel.min, 1e-4, 'min');
        near(max, ref.log_mel.max, 1e-4, 'max');
        ref.log_mel.mel0_frames0_7.forEach((v, f) => near(mel[f]!, v, 1e-4, `mel 0 frame ${f}`));
        ref.log_mel.mel79_frames0_7.forEach((v, f) => near(mel[79 * N_FRAMES + f]!, v, 1e-4, `mel 79 frame ${f}`));
        ref.log_mel.frame0_mels0_7.forEach((v, m) => near(mel[m * N_FRAMES]!, v, 1e-4, `frame 0 mel ${m}`));
      });

      it('encoder output within 1e-3 of its scale', async () => {
        // ggml's f16 weights are toy.pt's own f16 weights, so only float rounding differs (OpenAI's
        // check measured 3.8e-6 between two fp32 implementations); 1e-3 of the largest value bounds it.
        const enc = await lm.model.encode(lm.createMel().compute(samples()), 1, true);
        const f = enc.features!;
        const D = lm.dims.n_audio_state;
        assert.equal(f.length, N_CTX * D);
        const scale = Math.max(...[...ref.encoder.pos0_dims0_7, ...ref.encoder.pos1_dims0_7, ...ref.encoder.pos1499_dims0_7].map(Math.abs));
        for (const [pos, want] of [[0, ref.encoder.pos0_dims0_7], [1, ref.encoder.pos1_dims0_7], [1499, ref.encoder.pos1499_dims0_7]] as const) {
          want.forEach((v, d) => near(f[pos * D + d]!, v, 1e-3 * scale, `position ${pos} dim ${d}`));
        }
        let sum = 0;
        let abs = 0;
        for (const v of f) {
          sum += v;
          abs += Math.abs(v);
        }
        near(abs, ref.encoder.abs_sum, 1e-5 * ref.encoder.abs_sum, 'sum of |x|');
        near(sum, ref.encoder.sum, 1e-5 * ref.encoder.abs_sum, 'sum');
      });

      it("greedy tokens and text are OpenAI's, token for token", async () => {
        const r = await transcribeOffline(lm, samples(), { language: ref.language });
        assert.equal(r.windows.length, 1);
        assert.deepEqual(r.windows[0]!.tokens, ref.decoding.tokens);
        assert.equal(r.text.trim(), ref.decoding.text);
      });

      it("first-step top-5 logits: OpenAI's ids in order, values within 1e-3", async () => {
        const audio = await lm.model.encode(lm.createMel().compute(samples()));
        const out = await lm.model.decode({ tokens: [ref.decoding.prompt], cache: lm.model.emptyCache(), audio });
        const order = [...out.logits.keys()].sort((a, b) => out.logits[b]! - out.logits[a]!).slice(0, 5);
        assert.deepEqual(order, ref.first_step_logits.top5_ids);
        ref.first_step_logits.top5_values.forEach((v, i) => near(out.logits[order[i]!]!, v, 1e-3, `logit ${order[i]}`));
      });

      it("per-head argmax frame of the teacher-forced cross-attention is OpenAI's at every query", async () => {
        const audio = await lm.model.encode(lm.createMel().compute(samples()));
        const seq = [...ref.decoding.prompt, ...ref.decoding.tokens, EOT];
        const out = await lm.model.decode({ tokens: [seq], cache: lm.model.emptyCache(), audio });
        const T = seq.length;
        const heads = lm.alignmentHeads.map(([l, h]) => `${l},${h}`);
        assert.deepEqual(heads, Object.keys(ref.alignment_heads_argmax_frame_per_query.heads).sort());
        heads.forEach((name, k) => {
          const want = ref.alignment_heads_argmax_frame_per_query.heads[name]!;
          assert.equal(want.length, T, `${name}: one frame per query`);
          const got = want.map((_, q) => {
            const row = out.attention.subarray((k * T + q) * N_CTX, (k * T + q + 1) * N_CTX);
            return row.indexOf(Math.max(...row));
          });
          assert.deepEqual(got, want, `head ${name}`);
        });
      });
    });
  }
});
