import { Command } from 'commander';
import { loadModel } from '../model/load-model.js';
import type { CliIo } from './transcribe.js';

/** `simulstream models …`: model cache management. */
export function modelsCommand(io: CliIo): Command {
  const models = new Command('models').description('compile and manage models');
  models
    .command('compile')
    .description('compile a checkpoint to ONNX graphs in the cache (done automatically on first load)')
    .argument('<path>', 'OpenAI .pt or whisper.cpp ggml file')
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head"')
    .option('--models-dir <dir>', 'model and compiled-graph cache')
    .exitOverride()
    .action(async (file: string, o: Record<string, unknown>) => {
      const lm = await loadModel({
        modelPath: file,
        ...(o.modelsDir ? { cacheDir: o.modelsDir as string } : {}),
        ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
        log: (m) => io.stderr.write(`${m}\n`),
      });
      io.stdout.write(`compiled ${file}: ${JSON.stringify(lm.dims)}, alignment heads ${lm.alignmentHeads.map((h) => h.join(',')).join(';')}\n`);
      await lm.release();
    });
  return models;
}
