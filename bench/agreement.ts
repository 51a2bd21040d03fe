// What int8 and fitted encoder windows cost in accuracy, measured without depending on whether a
// model listens: teacher-forced next-token agreement with float32 on 30 s windows, and the mean
// KL(fp32 ‖ variant) of the next-token distribution; for int8, each group of matmuls alone, all of
// them, and the default set.
//   npm run bench:agreement [-- --groups each|all|default|fp32|LIST[;LIST…]] [--encoder-window auto] [--limit N] [--toy DIR]
// Models: the toy model (its held-out test files: the 200 short ones) and the random-weight
// reference model of ../shared/whisper-reference (its two clips and the first toy files).
// Tokens fed: float32's own greedy decoding of each file's first 30 s (OpenAI's suppressions),
// compared at every sampled position and at the end of text.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { N_SAMPLES, fittedWindowFrames } from '../lib/audio/mel.js';
import { readAudioFile } from '../lib/audio/wav.js';
import { intArg } from '../lib/cli/options.js';
import { blankTokens, openaiSuppressTokens } from '../lib/decode/logit-filters.js';
import { decodeWindow } from '../lib/decode/search.js';
import { nextTokenAgreement } from '../lib/eval/agreement.js';
import { readManifest } from '../lib/eval/manifest.js';
import { DEFAULT_INT8_GROUPS, INT8_GROUPS, type Int8Group, parseInt8Groups } from '../lib/model/int8-layers.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { ROOT, SHARED, TOY, tempDir } from '../test/helpers/fixtures.js';

interface Variant {
  readonly name: string;
  /** int8 groups, or undefined for float32. */
  readonly groups: readonly Int8Group[] | undefined;
}

interface Corpus {
  readonly name: string;
  readonly load: (extra: { precision?: 'int8'; int8Groups?: readonly Int8Group[]; int8WeightBits?: 7 | 8 }) => Promise<LoadedModel>;
  readonly files: readonly { audio: string; language: string }[];
}

interface Score {
  positions: number;
  agreements: number;
  klSum: number;
  files: number;
  identicalFiles: number;
}

function variants(spec: string): Variant[] {
  if (spec === 'each') {
    return [
      { name: 'none (int8 graph, float32 weights)', groups: [] },
      ...INT8_GROUPS.map((g) => ({ name: g, groups: [g] })),
      { name: 'all', groups: INT8_GROUPS },
      { name: 'default', groups: DEFAULT_INT8_GROUPS },
    ];
  }
  if (spec.includes(';')) return spec.split(';').flatMap(variants);
  if (spec === 'fp32') return [{ name: 'fp32', groups: undefined }];
  if (spec === 'default') return [{ name: 'default', groups: DEFAULT_INT8_GROUPS }];
  return [{ name: spec, groups: parseInt8Groups(spec) }];
}

/** Scores every variant (its window: `auto` fitted, else 30 s) against float32 on 30 s windows. */
async function score(corpus: Corpus, vs: readonly Variant[], window: 'full' | 'auto', bits: 7 | 8 | undefined): Promise<Score[]> {
  const fp32 = await corpus.load({});
  const models = await Promise.all(
    vs.map((v) => (v.groups ? corpus.load({ precision: 'int8', int8Groups: v.groups, ...(bits ? { int8WeightBits: bits } : {}) }) : corpus.load({}))),
  );
  const scores: Score[] = vs.map(() => ({ positions: 0, agreements: 0, klSum: 0, files: 0, identicalFiles: 0 }));
  const tok = fp32.tokenizer;
  const suppressTokens = openaiSuppressTokens(tok);
  const mel = fp32.createMel();
  for (const f of corpus.files) {
    const samples = readAudioFile(f.audio).samples.subarray(0, N_SAMPLES);
    const m = mel.compute(samples);
    const mt = window === 'auto' ? mel.compute(samples, fittedWindowFrames(samples.length)) : m;
    const audio = await fp32.model.encode(m);
    const initial = [tok.special.sot, tok.languageToken(f.language), tok.special.transcribe, tok.special.noTimestamps];
    const greedy = await decodeWindow(fp32.model, audio, initial, 1, { suppressTokens, suppressAtBegin: blankTokens(tok), eot: tok.special.eot });
    const tokens = [...initial, ...greedy.tokens];
    for (const [i, lm] of models.entries()) {
      const r = await nextTokenAgreement({ model: fp32.model, audio }, { model: lm.model, audio: await lm.model.encode(mt) }, tokens, greedy.tokens.length + 1, suppressTokens);
      const s = scores[i]!;
      s.positions += r.positions;
      s.agreements += r.agreements;
      s.klSum += r.klSum;
      s.files++;
      if (r.agreements === r.positions) s.identicalFiles++;
    }
  }
  await Promise.all([fp32.release(), ...models.map((lm) => lm.release())]);
  return scores;
}

const program = new Command('bench:agreement')
  .option('--groups <spec>', 'each (every group alone, all, default), all, default, or a comma-separated list; several sets separated by ;', 'each')
  .option('--limit <n>', 'only the first N toy files', intArg(1))
  .option('--toy <dir>', 'the toy model directory (ggml-toy.bin, test/manifest.jsonl)')
  .option('--encoder-window <s>', "the variants' encoder window: 30 or auto (fitted to each file's audio)", '30')
  .option('--weight-bits <n>', "int8 weights' bits of magnitude: 8 or 7 (default: this CPU's, see int8WeightBitsForThisCpu)")
  .action(async (o: Record<string, unknown>) => {
    const cacheDir = tempDir('simulstream-agreement-');
    const toyDir = (o.toy as string | undefined) ?? (SHARED && fs.existsSync(path.join(SHARED, 'toy-whisper-v3')) ? path.join(SHARED, 'toy-whisper-v3') : TOY);
    const manifest = path.join(toyDir, 'test/manifest.jsonl');
    let toyFiles = fs.existsSync(manifest)
      ? readManifest(manifest).filter((e) => !path.basename(e.audio).startsWith('long-'))
      : fs.readdirSync(toyDir).filter((f) => f.endsWith('.wav')).map((f) => ({ audio: path.join(toyDir, f), language: f.slice(0, 2) }));
    if (o.limit) toyFiles = toyFiles.slice(0, o.limit as number);
    const refDir = SHARED ? path.join(SHARED, 'whisper-reference') : path.join(ROOT, 'test/fixtures/whisper-reference');
    const refModel = [path.join(refDir, 'ref-model.pt'), path.join(refDir, 'ggml-ref-f32.bin'), path.join(refDir, 'ggml-ref-f16.bin')].find((f) => fs.existsSync(f))!;
    const corpora: Corpus[] = [
      {
        name: `toy (${path.relative(process.cwd(), toyDir) || toyDir}), ${toyFiles.length} held-out files`,
        load: (x) => loadModel({ modelPath: path.join(toyDir, 'ggml-toy.bin'), cacheDir, ...x }),
        files: toyFiles,
      },
      {
        name: `reference model (random weights, ${path.basename(refModel)}), jfk, fr-sample and ${Math.min(8, toyFiles.length)} toy files`,
        load: (x) => loadModel({ modelPath: refModel, alignmentHeads: '1,0;1,1', cacheDir, ...x }),
        files: [
          { audio: path.join(refDir, 'jfk.wav'), language: 'en' },
          { audio: path.join(refDir, 'fr-sample.wav'), language: 'fr' },
          ...toyFiles.slice(0, 8),
        ].filter((f) => fs.existsSync(f.audio)),
      },
    ];
    const vs = variants(o.groups as string);
    const cpus = os.cpus();
    console.log(`teacher-forced next-token agreement with float32 on 30 s windows; variants on ${o.encoderWindow === 'auto' ? 'fitted' : '30 s'} windows; ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, Node ${process.version}`);
    for (const c of corpora) {
      const t0 = performance.now();
      const bits = o.weightBits === undefined ? undefined : o.weightBits === '7' ? 7 : 8;
      const scores = await score(c, vs, o.encoderWindow === 'auto' ? 'auto' : 'full', bits);
      console.log(`\n${c.name} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      console.log('| variant (int8 groups) | agreement | mean KL (nats) | positions | files with every position agreeing |');
      console.log('|---|---:|---:|---:|---:|');
      for (const [i, v] of vs.entries()) {
        const s = scores[i]!;
        console.log(`| ${v.name} | ${((100 * s.agreements) / s.positions).toFixed(2)} % | ${(s.klSum / s.positions).toExponential(2)} | ${s.positions} | ${s.identicalFiles}/${s.files} |`);
      }
    }
  });
await program.parseAsync(process.argv);
