// float32 vs int8 (`--quantize int8`): encoder (one 30 s window) and decoder step, mitata; with
// `--windows`, the encoder on fitted windows of those lengths too (`--encoder-window auto`).
//   npm run bench:int8 [-- --models toy,tiny,small] [--groups default|all|LIST] [--windows 2,4,8,16] [--model FILE]
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
  .option('--groups <list>', 'int8 variants to time besides float32, separated by ; (default, all, or group lists; none: float32 only)', 'default;all')
  .option('--windows <list>', 'also time the encoder on fitted windows of these lengths (s, multiples of 2)')
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
        .filter((spec) => spec !== 'none')
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
    const windows = o.windows ? String(o.windows).split(',').map(Number) : [];
    /** mean-table key (`model|variant|stage`) of each benchmark, by its name */
    const keys = new Map<string, string>();
    const timed = (benchName: string, key: string, fn: () => Promise<void>): void => {
      keys.set(benchName, key);
      bench(benchName, fn);
    };
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
          timed(`${name} ${v.label}: encoder, one 30 s window`, `${name}|${v.label}|encoder`, async () => do_not_optimize(await lm.model.encode(mel)));
          timed(`${name} ${v.label}: decoder step (1 token, 8 cached)`, `${name}|${v.label}|decoder`, async () =>
            do_not_optimize(await lm.model.decode({ tokens: [[1000]], cache: primed.cache, audio: encoded })),
          );
        });
        if (windows.length) {
          group(`${name}, ${v.label}, fitted windows`, () => {
            for (const w of windows) {
              const fitted = lm.createMel().compute(audio.subarray(0, w * 16000), (w / 2) * 200);
              timed(`${name} ${v.label}: encoder, ${w} s window`, `${name}|${v.label}|window ${w}`, async () => do_not_optimize(await lm.model.encode(fitted)));
            }
          });
        }
      }
    }
    const { benchmarks } = await run();
    const mean = new Map<string, number>();
    for (const b of benchmarks) {
      const r = b.runs[0]!;
      const key = keys.get(r.name);
      if (key && r.stats) mean.set(key, r.stats.avg / 1e6);
    }
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
    if (windows.length) {
      console.log(`\n| model | variant | ${windows.map((w) => `${w} s`).join(' | ')} | 30 s |`);
      console.log(`|---|---|${windows.map(() => '---:|').join('')}---:|`);
      for (const [name] of sources) {
        for (const v of variants) {
          const cells = windows.map((w) => `${mean.get(`${name}|${v.label}|window ${w}`)!.toFixed(1)} ms`);
          console.log(`| ${name} | ${v.label} | ${cells.join(' | ')} | ${mean.get(`${name}|${v.label}|encoder`)!.toFixed(1)} ms |`);
        }
      }
    }
    for (const lm of loaded) await lm.release();
  });
await program.parseAsync(process.argv);
