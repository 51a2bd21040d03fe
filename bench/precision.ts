// fp32 vs int8 (dynamic quantization of the Linear layers): encoder and decoder-step time on
// the toy model and on a random-weight model of whisper tiny's shape.
//   npm run bench:int8 [-- --model FILE]
import path from 'node:path';
import { bench, do_not_optimize, group, run } from 'mitata';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { randomCheckpoint } from '../lib/model/random-checkpoint.js';
import type { Precision } from '../lib/model/whisper-graphs.js';
import { TOY, tempDir } from '../test/helpers/fixtures.js';

const cacheDir = tempDir('simulstream-bench-');
const arg = process.argv.indexOf('--model');
const models: [string, (p: Precision) => Promise<LoadedModel>][] =
  arg > 0
    ? [[path.basename(process.argv[arg + 1]!), (precision) => loadModel({ modelPath: process.argv[arg + 1]!, cacheDir, precision })]]
    : [
        ['toy', (precision) => loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir, precision })],
        ['tiny (random weights)', (precision) => loadModel({ checkpoint: randomCheckpoint('tiny'), cacheDir, precision })],
      ];

const loaded: LoadedModel[] = [];
for (const [name, load] of models) {
  for (const precision of ['fp32', 'int8'] as const) {
    const lm = await load(precision);
    loaded.push(lm);
    const audio = new Float32Array(30 * 16000).map((_, i) => 0.1 * Math.sin(i * 0.05) + 0.01 * Math.sin(i * 1.3));
    const mel = lm.createMel().compute(audio);
    const encoded = await lm.model.encode(mel);
    const tok = lm.tokenizer;
    const prefix = [tok.special.sot, tok.languageToken('fr'), tok.special.transcribe, tok.special.noTimestamps, 400, 500, 600, 700];
    const primed = await lm.model.decode({ tokens: [prefix], cache: lm.model.emptyCache(), audio: encoded });
    group(`${name}, ${precision}`, () => {
      bench(`${name} ${precision}: encoder, one 30 s window`, async () => do_not_optimize(await lm.model.encode(mel)));
      bench(`${name} ${precision}: decoder step (1 token, 8 cached)`, async () =>
        do_not_optimize(await lm.model.decode({ tokens: [[1000]], cache: primed.cache, audio: encoded })),
      );
    });
  }
}
await run();
for (const lm of loaded) await lm.release();
