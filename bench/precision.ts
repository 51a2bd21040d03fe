// float32 vs int8 (`--quantize int8`): encoder (one 30 s window) and decoder step, mitata.
//   npm run bench:int8 [-- --models toy,tiny,small] [--groups default|all|LIST] [--model FILE]
// Shapes other than the toy's have random weights (the same compute as the real models). Prints
// mitata's table, then each int8 variant's speed-up over float32 (ratio of mean times).
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { bench, do_not_optimize, group, run } from 'mitata';
import { N_SAMPLES } from '../lib/audio/mel.js';
import { DEFAULT_INT8_GROUPS, INT8_GROUPS, type Int8Group, parseInt8Groups } from '../lib/model/int8-layers.js';
import { loadModel, type LoadedModel, type LoadModelOptions } from '../lib/model/load-model.js';
import { randomCheckpoint } from '../lib/model/random-checkpoint.js';
import { TOY, tempDir } from '../test/helpers/fixtures.js';

interface Variant {
  readonly label: string;
  readonly extra: Pick<LoadModelOptions, 'precision' | 'int8Groups'>;
}

const program = new Command('bench:int8')
  .option('--models <list>', 'toy and/or catalog shapes (random weights), comma-separated', 'toy,tiny,small')
  .option('--model <file>', 'a .pt/ggml file instead')
  .option('--groups <list>', 'int8 variants to time besides float32, separated by ; (default, all, or group lists)', 'default;all')
  .action(async (o: Record<string, unknown>) => {
    const cacheDir = tempDir('simulstream-bench-');
    const file = o.model as string | undefined;
    const sources: [string, (extra: Variant['extra']) => Promise<LoadedModel>][] = file
      ? [[path.basename(file), (x) => loadModel({ modelPath: file, cacheDir, ...x })]]
      : String(o.models)
          .split(',')
          .map((name): [string, (extra: Variant['extra']) => Promise<LoadedModel>] =>
            name === 'toy'
              ? ['toy', (x) => loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir, ...x })]
              : [`${name} (random weights)`, (x) => loadModel({ checkpoint: randomCheckpoint(name), cacheDir, ...x })],
          );
    const variants: Variant[] = [
      { label: 'fp32', extra: {} },
      ...String(o.groups)
        .split(';')
        .map((spec): Variant => {
          const groups: readonly Int8Group[] = spec === 'default' ? DEFAULT_INT8_GROUPS : parseInt8Groups(spec);
          const label = spec === 'default' || spec === 'all' ? `int8 ${spec}` : `int8 ${groups.map((g) => INT8_GROUPS.indexOf(g)).join('')}`;
          return { label, extra: { precision: 'int8', int8Groups: groups } };
        }),
    ];
    const cpus = os.cpus();
    console.log(`${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, Node ${process.version}; int8 default: ${DEFAULT_INT8_GROUPS.join(', ')}`);
    const audio = new Float32Array(N_SAMPLES).map((_, i) => 0.1 * Math.sin(i * 0.05) + 0.01 * Math.sin(i * 1.3));
    const loaded: LoadedModel[] = [];
    const names: { model: string; variant: string; stage: 'encoder' | 'decoder' }[] = [];
    for (const [name, load] of sources) {
      for (const v of variants) {
        const lm = await load(v.extra);
        loaded.push(lm);
        const mel = lm.createMel().compute(audio);
        const encoded = await lm.model.encode(mel);
        const tok = lm.tokenizer;
        const prefix = [tok.special.sot, tok.languageToken('fr'), tok.special.transcribe, tok.special.noTimestamps, 400, 500, 600, 700];
        const primed = await lm.model.decode({ tokens: [prefix], cache: lm.model.emptyCache(), audio: encoded });
        group(`${name}, ${v.label}`, () => {
          bench(`${name} ${v.label}: encoder, one 30 s window`, async () => do_not_optimize(await lm.model.encode(mel)));
          bench(`${name} ${v.label}: decoder step (1 token, 8 cached)`, async () =>
            do_not_optimize(await lm.model.decode({ tokens: [[1000]], cache: primed.cache, audio: encoded })),
          );
        });
        names.push({ model: name, variant: v.label, stage: 'encoder' }, { model: name, variant: v.label, stage: 'decoder' });
      }
    }
    const { benchmarks } = await run();
    const mean = new Map<string, number>();
    benchmarks.forEach((b, i) => {
      const n = names[i]!;
      mean.set(`${n.model}|${n.variant}|${n.stage}`, b.runs[0]!.stats!.avg / 1e6);
    });
    console.log('\n| model | variant | encoder, 30 s window | speed-up | decoder step | speed-up |');
    console.log('|---|---|---:|---:|---:|---:|');
    for (const [name] of sources) {
      const e0 = mean.get(`${name}|fp32|encoder`)!;
      const d0 = mean.get(`${name}|fp32|decoder`)!;
      for (const v of variants) {
        const e = mean.get(`${name}|${v.label}|encoder`)!;
        const d = mean.get(`${name}|${v.label}|decoder`)!;
        console.log(`| ${name} | ${v.label} | ${e.toFixed(1)} ms | ${(e0 / e).toFixed(2)}× | ${d.toFixed(2)} ms | ${(d0 / d).toFixed(2)}× |`);
      }
    }
    for (const lm of loaded) await lm.release();
  });
await program.parseAsync(process.argv);
