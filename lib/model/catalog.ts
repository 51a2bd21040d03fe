import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimulstreamError } from '../errors.js';
import { nearest } from '../util/nearest.js';
import type { WhisperDims } from './dims.js';
import type { AlignmentHead } from './whisper-graphs.js';

/** A model file one can download: where from, and the checksum that proves it. */
export interface CatalogFile {
  /** File name in the cache (`small.pt`, `ggml-small.bin`). */
  readonly file: string;
  readonly url: string;
  readonly sha256?: string;
  readonly sha1?: string;
  /** Approximate size, MiB. */
  readonly sizeMiB: number;
}

export type ModelFormat = 'pt' | 'ggml';

export interface CatalogModel {
  readonly name: string;
  readonly multilingual: boolean;
  readonly dims: WhisperDims;
  readonly alignmentHeads: readonly AlignmentHead[];
  readonly files: Partial<Record<ModelFormat, CatalogFile>>;
}

interface CatalogData {
  readonly aliases: Record<string, string>;
  readonly models: CatalogModel[];
}

let data: CatalogData | undefined;

function load(): CatalogData {
  if (!data) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const file = [path.resolve(here, '../../models/catalog.json'), path.resolve(here, '../../../models/catalog.json')].find((f) => fs.existsSync(f))!;
    data = JSON.parse(fs.readFileSync(file, 'utf8')) as CatalogData;
  }
  return data;
}

/** Every official model (OpenAI's checkpoints and whisper.cpp's conversions). */
export function catalogModels(): readonly CatalogModel[] {
  return load().models;
}

/** A model by name (`small`, `large-v3`, or an alias: `large`, `turbo`); throws ERR_MODEL_NOT_FOUND. */
export function catalogModel(name: string): CatalogModel {
  const c = load();
  const m = c.models.find((x) => x.name === (c.aliases[name] ?? name));
  if (!m) {
    const hint = nearest(name, [...c.models.map((x) => x.name), ...Object.keys(c.aliases)]);
    throw new SimulstreamError(
      'ERR_MODEL_NOT_FOUND',
      `unknown model "${name}"${hint ? `; did you mean "${hint}"?` : ''} (known: ${c.models.map((x) => x.name).join(', ')}; or pass --model_path FILE)`,
    );
  }
  return m;
}

/** The file of a model in a format (default: OpenAI's `.pt`, what SimulStreaming loads; ggml when that is all there is). */
export function catalogFile(m: CatalogModel, format?: ModelFormat): CatalogFile {
  const f = format ? m.files[format] : (m.files.pt ?? m.files.ggml);
  if (!f) throw new SimulstreamError('ERR_MODEL_NOT_FOUND', `model "${m.name}" has no ${format} file; formats: ${Object.keys(m.files).join(', ')}`);
  return f;
}
