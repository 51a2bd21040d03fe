import { Command, Option } from 'commander';
import { readAudioFile } from '../audio/wav.js';
import { transcribeOffline } from '../decode/offline.js';
import { loadModel } from '../model/load-model.js';
import { intArg } from './options.js';

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export function transcribeCommand(io: CliIo): Command {
  return new Command('transcribe')
    .description('transcribe an audio file (raw s16le 16 kHz mono, or WAV of any rate and channel count)')
    .argument('<file>', 'audio file')
    .requiredOption('--model_path <file>', 'OpenAI .pt or whisper.cpp ggml model file')
    .option('--offline', 'whole-file decoding (no simultaneous policy)', false)
    .option('--language <code>', 'language code, or "auto" to detect it (alias --lan)', 'en')
    .addOption(new Option('--task <task>', 'transcribe or translate').choices(['transcribe', 'translate']).default('transcribe'))
    .option('-b, --beams <n>', 'beam size (1 = greedy)', intArg(1, 32), 1)
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head" (default: the model\'s official ones)')
    .option('--models-dir <dir>', 'model and compiled-graph cache (default $SIMULSTREAM_MODELS or ~/.cache/simulstream)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (0 = one per core)', intArg(0, 256), 0)
    .action(async (file: string, o: Record<string, unknown>) => {
      const lm = await loadModel({
        modelPath: o.model_path as string,
        ...(o.modelsDir ? { cacheDir: o.modelsDir as string } : {}),
        ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
        threads: o.threads as number,
        log: (m) => io.stderr.write(`${m}\n`),
      });
      try {
        const audio = readAudioFile(file);
        const r = await transcribeOffline(lm, audio.samples, {
          language: o.language as string,
          task: o.task as 'transcribe' | 'translate',
          beams: o.beams as number,
        });
        io.stdout.write(`${r.text.trim()}\n`);
      } finally {
        await lm.release();
      }
    });
}
