import fs from 'node:fs';
import { Command, Option } from 'commander';
import { catalogModel } from '../model/catalog.js';
import { progressPrinter } from '../model/download.js';
import { defaultModelsDir, loadModel } from '../model/load-model.js';
import { listModels, pullModel, removeModel } from '../model/model-cache.js';
import type { Precision } from '../model/whisper-graphs.js';
import type { CliIo } from './transcribe.js';

const dirOption = (): Option => new Option('--models-dir <dir>', 'the model cache (default $SIMULSTREAM_MODELS, else $XDG_CACHE_HOME/simulstream or ~/.cache/simulstream)');
const formatOption = (): Option => new Option('--format <format>', 'OpenAI .pt (default) or whisper.cpp ggml').choices(['pt', 'ggml']);
const mirrorOption = (): Option => new Option('--mirror <url>', 'a base URL serving the model files by name, instead of the official hosts');

/** A model argument: a file path, else a catalog name (pulled into the cache when missing). */
export async function resolveModel(
  nameOrPath: string,
  o: { modelsDir?: string; format?: 'pt' | 'ggml'; mirror?: string },
  io: CliIo,
): Promise<string> {
  if (fs.existsSync(nameOrPath)) return nameOrPath;
  catalogModel(nameOrPath); // unknown names fail here, with the list
  return pullModel(nameOrPath, {
    modelsDir: o.modelsDir ?? defaultModelsDir(),
    ...(o.format ? { format: o.format } : {}),
    ...(o.mirror ? { mirror: o.mirror } : {}),
    onProgress: progressPrinter(io.stderr, nameOrPath),
    log: (m) => io.stderr.write(`${m}\n`),
  });
}

/** `simulstream models …`: the catalog and the model cache. */
export function modelsCommand(io: CliIo): Command {
  const models = new Command('models').description('list, download, compile and remove models');
  models
    .command('list')
    .description('the official models: which are cached, and their sizes')
    .addOption(dirOption())
    .exitOverride()
    .action((o: { modelsDir?: string }) => {
      const dir = o.modelsDir ?? defaultModelsDir();
      io.stdout.write(`models in ${dir}\n`);
      for (const r of listModels(dir)) {
        io.stdout.write(`${r.name.padEnd(20)} ${r.format.padEnd(5)} ${`${r.sizeMiB.toFixed(0)} MiB`.padStart(9)}  ${r.path ? 'cached' : '-'}\n`);
      }
    });
  models
    .command('pull')
    .description('download a model into the cache (resumable; checksum verified)')
    .argument('<name>', 'tiny, base, small, medium, large-v2, large-v3, large-v3-turbo, … (.en where they exist)')
    .addOption(dirOption())
    .addOption(formatOption())
    .addOption(mirrorOption())
    .exitOverride()
    .action(async (name: string, o: { modelsDir?: string; format?: 'pt' | 'ggml'; mirror?: string }) => {
      catalogModel(name);
      const p = await resolveModel(name, o, io);
      io.stdout.write(`${p}\n`);
    });
  models
    .command('compile')
    .description('compile a model to ONNX graphs in the cache (done automatically on first load)')
    .argument('<model>', 'a catalog name (pulled when missing) or an OpenAI .pt / whisper.cpp ggml file')
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head"')
    .addOption(new Option('--quantize <type>', '8-bit Linear weights (dynamic quantization), cached as a separate variant').choices(['int8']))
    .addOption(dirOption())
    .addOption(formatOption())
    .addOption(mirrorOption())
    .exitOverride()
    .action(async (model: string, o: Record<string, unknown>) => {
      const file = await resolveModel(model, o, io);
      const lm = await loadModel({
        modelPath: file,
        ...(o.modelsDir ? { cacheDir: o.modelsDir as string } : {}),
        ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
        precision: (o.quantize as Precision | undefined) ?? 'fp32',
        log: (m) => io.stderr.write(`${m}\n`),
      });
      io.stdout.write(`compiled ${file} (${o.quantize ?? 'fp32'}): ${JSON.stringify(lm.dims)}, alignment heads ${lm.alignmentHeads.map((h) => h.join(',')).join(';')}\n`);
      await lm.release();
    });
  models
    .command('rm')
    .description('remove a model\'s files from the cache')
    .argument('<name>')
    .addOption(dirOption())
    .exitOverride()
    .action((name: string, o: { modelsDir?: string }) => {
      for (const p of removeModel(name, o.modelsDir ?? defaultModelsDir())) io.stdout.write(`removed ${p}\n`);
    });
  return models;
}
