// Word error rate, latency and real-time factor over a manifest (JSON Lines of
// {"audio": path, "text": reference, "language": "fr"}).
//   npm run eval -- --manifest FILE.jsonl [--model_path M] [--mode offline|streaming|both] [--quantize int8] [--json]
// Defaults: the toy model bundled in test/fixtures and its held-out set in ../shared (else the
// four bundled clips).
import path from 'node:path';
import { Command } from 'commander';
import { floatArg, intArg } from '../lib/cli/options.js';
import { evaluate, type EvalMode, type EvalReport } from '../lib/eval/evaluate.js';
import { readManifest, type ManifestEntry } from '../lib/eval/manifest.js';
import { loadModel } from '../lib/model/load-model.js';
import { SHARED, TOY, toyClipsManifest } from '../test/helpers/fixtures.js';

function defaultManifest(): ManifestEntry[] {
  return SHARED ? readManifest(path.join(SHARED, 'toy-whisper-v3/test/manifest.jsonl')) : toyClipsManifest();
}

function table(r: EvalReport): string {
  const rows = Object.entries(r.wer).map(
    ([lang, w]) => `  ${r.mode.padEnd(9)} ${lang.padEnd(4)} WER ${w.wer.toFixed(2).padStart(7)} %  (${w.errors}/${w.words} words, ${w.files} files)`,
  );
  rows.push(`  ${r.mode.padEnd(9)} real-time factor ${r.realTimeFactor.toFixed(3)} (${r.computeSeconds.toFixed(1)} s for ${r.audioSeconds.toFixed(1)} s of audio)`);
  if (r.lag) rows.push(`  ${r.mode.padEnd(9)} lag (word end → emission) mean ${r.lag.meanLag.toFixed(3)} s, p90 ${r.lag.p90Lag.toFixed(3)} s over ${r.lag.words} words`);
  return rows.join('\n');
}

const program = new Command('eval')
  .option('--manifest <file>', 'JSON Lines manifest (default: the toy model\'s held-out set)')
  .option('--model_path <file>', 'model file', path.join(TOY, 'ggml-toy.bin'))
  .option('--alignment_heads <spec>', 'alignment heads (default: the model\'s own, see defaultAlignmentHeads)')
  .option('--mode <mode>', 'offline, streaming or both', 'both')
  .option('--min-chunk-size <s>', 'streaming chunk (s)', floatArg(0.01, 30), 1.2)
  .option('--frame_threshold <n>', 'AlignAtt frame threshold', intArg(0, 1500), 25)
  .option('--limit <n>', 'only the first N files', intArg(1))
  .option('--quantize <type>', 'int8: 8-bit weights for the encoder and decoder matmuls')
  .option('--encoder-window <s>', '30 (Whisper\'s window) or auto (fitted to the audio, rounded up to 2 s)', '30')
  .option('--threads <n>', 'ONNX Runtime intra-op threads (0: one per core)', intArg(0, 256), 0)
  .option('--json', 'print the whole report as JSON', false)
  .action(async (o: Record<string, unknown>) => {
    let entries = o.manifest ? readManifest(o.manifest as string) : defaultManifest();
    if (o.limit) entries = entries.slice(0, o.limit as number);
    const heads = o.alignment_heads as string | undefined;
    const precision = o.quantize === 'int8' ? 'int8' : 'fp32';
    if (o.quantize && o.quantize !== 'int8') throw new Error('--quantize: only int8');
    if (o.encoderWindow !== '30' && o.encoderWindow !== 'auto') throw new Error('--encoder-window: 30 or auto');
    const encoderWindow = o.encoderWindow === 'auto' ? 'auto' : 'full';
    const lm = await loadModel({ modelPath: o.model_path as string, precision, threads: o.threads as number, ...(heads ? { alignmentHeads: heads } : {}) });
    const modes: EvalMode[] = o.mode === 'both' ? ['offline', 'streaming'] : [o.mode as EvalMode];
    const reports: EvalReport[] = [];
    for (const mode of modes) {
      reports.push(await evaluate(lm, entries, { mode, minChunkSize: o.minChunkSize as number, frameThreshold: o.frame_threshold as number, encoderWindow }));
      if (!o.json) console.log(table(reports.at(-1)!));
    }
    if (o.json) console.log(JSON.stringify(reports, null, 1));
    await lm.release();
  });
await program.parseAsync(process.argv);
