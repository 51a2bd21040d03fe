import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { InvalidOptionError } from '../errors.js';
import { parseAlignmentHeads } from '../model/alignment-heads.js';
import { catalogModel } from '../model/catalog.js';
import { progressPrinter } from '../model/download.js';
import { defaultModelsDir, loadModel } from '../model/load-model.js';
import { listModels, mirrorBase, pullModel, removeModel, type CacheState } from '../model/model-cache.js';
import type { Precision } from '../model/whisper-graphs.js';
import type { CliIo } from './transcribe.js';

const dirOption = (): Option => new Option('--models-dir <dir>', 'the model cache (default $SIMULSTREAM_MODELS, else $XDG_CACHE_HOME/simulstream or ~/.cache/simulstream)');
const formatOption = (): Option => new Option('--format <format>', 'OpenAI .pt (default) or whisper.cpp ggml').choices(['pt', 'ggml']);
export const mirrorOption = (): Option =>
  new Option('--mirror <url|dir>', 'where to fetch model files by name instead of the official hosts: an http(s):// or file:// base URL, or a directory');

/** A model argument: a file path, else a catalog name (pulled into the cache when missing, verified before first use). */
export async function resolveModel(
  nameOrPath: string,
  o: { modelsDir?: string; format?: 'pt' | 'ggml'; mirror?: string },
  io: CliIo,
): Promise<string> {
  if (fs.existsSync(nameOrPath)) return nameOrPath;
  catalogModel(nameOrPath); // unknown names fail here, with the nearest
  return pullModel(nameOrPath, {
    modelsDir: o.modelsDir ?? defaultModelsDir(),
    ...(o.format ? { format: o.format } : {}),
    ...(o.mirror ? { mirror: o.mirror } : {}),
    onProgress: progressPrinter(io.stderr, nameOrPath),
    log: (m) => io.stderr.write(`${m}\n`),
  });
}

/** The model flags' checks, before anything is loaded: a known `--model` name, a usable `--mirror`, `--alignment_heads` that parse. */
export function checkModelOptions(o: { model?: string; mirror?: string; alignment_heads?: unknown }): void {
  if (typeof o.alignment_heads === 'string') parseAlignmentHeads(o.alignment_heads); // the syntax; the model checks the range
  if (o.model !== undefined) {
    try {
      catalogModel(o.model);
    } catch (err) {
      throw new InvalidOptionError('--model', (err as Error).message);
    }
  }
  if (o.mirror !== undefined) mirrorBase(o.mirror);
}

/**
 * `--model NAME`: a model already in the cache (either format; verified against the catalog's
 * checksum before its first use), else pulled from the catalog.
 */
export async function modelByName(name: string, dir: string, mirror: string | undefined, io: CliIo): Promise<string> {
  const m = catalogModel(name);
  const format = (['pt', 'ggml'] as const).find((f) => m.files[f] && fs.existsSync(path.join(dir, m.files[f].file)));
  return resolveModel(name, { modelsDir: dir, ...(format ? { format } : {}), ...(mirror ? { mirror } : {}) }, io);
}

const STATE_LABEL: Readonly<Record<CacheState, string>> = { verified: 'cached', unverified: 'unverified', partial: 'partial', missing: '-' };

/** `simulstream models …`: the catalog and the model cache. */
export function modelsCommand(io: CliIo): Command {
  const models = new Command('models').description('list, download, compile and remove models');
  models
    .command('list')
    .description('the official models: which are cached (cached: verified; unverified: put there by hand, checked on first use), and their sizes')
    .addOption(dirOption())
    .option('--json', 'one JSON array: name, format, file, sizeMiB, state (verified, unverified, partial, missing), path', false)
    .action((o: { modelsDir?: string; json: boolean }) => {
      const dir = o.modelsDir ?? defaultModelsDir();
      const rows = listModels(dir);
      if (o.json) {
        io.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...r, sizeMiB: Math.round(r.sizeMiB * 10) / 10 })))}\n`);
        return;
      }
      io.stdout.write(`models in ${dir}\n`);
      for (const r of rows) {
        io.stdout.write(`${r.name.padEnd(20)} ${r.format.padEnd(5)} ${`${r.sizeMiB.toFixed(0)} MiB`.padStart(9)}  ${STATE_LABEL[r.state]}\n`);
      }
    });
  models
    .command('pull')
    .description('download a model into the cache (resumable; checksum verified)')
    .argument('<name>', 'tiny, base, small, medium, large-v2, large-v3, large-v3-turbo, … (.en where they exist)')
    .addOption(dirOption())
    .addOption(formatOption())
    .addOption(mirrorOption())
    .action(async (name: string, o: { modelsDir?: string; format?: 'pt' | 'ggml'; mirror?: string }) => {
      checkModelOptions({ model: name, ...(o.mirror !== undefined ? { mirror: o.mirror } : {}) });
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
    .action(async (model: string, o: Record<string, unknown>) => {
      checkModelOptions({ ...(fs.existsSync(model) ? {} : { model }), ...(o.mirror !== undefined ? { mirror: o.mirror as string } : {}), alignment_heads: o.alignment_heads });
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
    .action((name: string, o: { modelsDir?: string }) => {
      for (const p of removeModel(name, o.modelsDir ?? defaultModelsDir())) io.stdout.write(`removed ${p}\n`);
    });
  return models;
}
