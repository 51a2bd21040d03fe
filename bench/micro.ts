// Micro-benchmarks of the model core (mitata): log-mel of 30 s, one encoder run, one decoder step,
// tokenizer. Usage: npm run bench [-- --model FILE]   (default: the reference model in test/fixtures)
import path from 'node:path';
import { bench, do_not_optimize, run } from 'mitata';
import { StreamingLogMel } from '../lib/audio/streaming-mel.js';
import { loadModel } from '../lib/model/load-model.js';
import { AttentionTracker } from '../lib/policy/attention.js';
import { ROOT, tempDir } from '../test/helpers/fixtures.js';

const arg = process.argv.indexOf('--model');
const modelPath = arg > 0 ? process.argv[arg + 1]! : path.join(ROOT, 'test/fixtures/whisper-reference/ggml-ref-f16.bin');
const lm = await loadModel({ modelPath, cacheDir: tempDir('simulstream-bench-') });
const tok = lm.tokenizer;

const audio = new Float32Array(30 * 16000);
for (let i = 0; i < audio.length; i++) audio[i] = 0.1 * Math.sin(i * 0.05) + 0.01 * Math.sin(i * 1.3);
const mel = lm.createMel();
const melOut = mel.compute(audio);
const encoded = await lm.model.encode(melOut);
const prefix = [tok.special.sot, tok.languageToken('fr'), tok.special.transcribe, tok.special.noTimestamps];
const primed = await lm.model.decode({ tokens: [prefix], cache: lm.model.emptyCache(), audio: encoded });
const text = ' Bonjour, je vous appelle au sujet de la facture du quinze mars, pouvez-vous me rappeler ?';

console.log(`model: ${path.basename(modelPath)} (${JSON.stringify(lm.dims)})`);
bench('log-mel, 30 s of audio', () => do_not_optimize(mel.compute(audio)));
bench('encoder, one 30 s window', async () => do_not_optimize(await lm.model.encode(melOut)));
bench('decoder step (1 token, 4 cached)', async () =>
  do_not_optimize(await lm.model.decode({ tokens: [[50365 - 1000]], cache: primed.cache, audio: encoded })),
);
const streaming = new StreamingLogMel(lm.createMel());
streaming.append(audio.subarray(0, 20 * 16000));
bench('streaming log-mel, +1.2 s on a 20 s buffer', () => {
  streaming.append(audio.subarray(0, 19200));
  const w = streaming.window();
  streaming.dropFront(19200);
  return do_not_optimize(w);
});
const tracker = new AttentionTracker(lm.alignmentHeads.length);
const attn = new Float32Array(lm.alignmentHeads.length * 1500).map((_, i) => ((i * 7919) % 1500) / 1500 / 750);
for (let i = 0; i < 20; i++) tracker.add(attn, 1);
bench('policy: most-attended frame (z-norm, median 7, mean)', () => {
  tracker.add(attn, 1);
  return do_not_optimize(tracker.mostAttendedFrame(1000));
});
bench('tokenizer encode, one sentence', () => do_not_optimize(tok.encode(text)));
await run();
await lm.release();
