import fs from 'node:fs';
import path from 'node:path';
import { SimulstreamError } from '../errors.js';
import { catalogFile, catalogModel, catalogModels, type CatalogFile, type ModelFormat } from './catalog.js';
import { download, type DownloadProgress } from './download.js';

export interface PullOptions {
  /** The cache (see `defaultModelsDir()`). */
  readonly modelsDir: string;
  /** `pt` (OpenAI's, the default) or `ggml` (whisper.cpp's). */
  readonly format?: ModelFormat;
  /** A base URL that serves the files by name, in place of the official hosts (a local mirror). */
  readonly mirror?: string;
  readonly onProgress?: (p: DownloadProgress) => void;
  readonly log?: (msg: string) => void;
}

function sourceUrl(f: CatalogFile, mirror?: string): string {
  return mirror ? new URL(f.file, mirror.endsWith('/') ? mirror : `${mirror}/`).toString() : f.url;
}

/** Where a model's file is (or will be) in the cache. */
export function cachedModelPath(name: string, modelsDir: string, format?: ModelFormat): string {
  return path.join(modelsDir, catalogFile(catalogModel(name), format).file);
}

/**
 * A catalog model's file in the cache, downloaded (resumable, checksum-verified) when it is not
 * there yet. Returns its path.
 */
export async function pullModel(name: string, opts: PullOptions): Promise<string> {
  const f = catalogFile(catalogModel(name), opts.format);
  const dest = path.join(opts.modelsDir, f.file);
  if (fs.existsSync(dest)) return dest;
  const url = sourceUrl(f, opts.mirror);
  opts.log?.(`downloading ${name} (${f.sizeMiB} MiB) from ${url}`);
  const checksum = f.sha256 ? { algorithm: 'sha256' as const, hex: f.sha256 } : f.sha1 ? { algorithm: 'sha1' as const, hex: f.sha1 } : undefined;
  await download(url, dest, { ...(checksum ? { checksum } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  opts.log?.(`${name}: ${dest} (${checksum ? `${checksum.algorithm} verified` : 'no checksum known'})`);
  return dest;
}

export interface CachedModelInfo {
  readonly name: string;
  readonly format: ModelFormat;
  readonly sizeMiB: number;
  /** The file, when it is in the cache. */
  readonly path?: string;
}

/** Every catalog file, with its cache state. */
export function listModels(modelsDir: string): CachedModelInfo[] {
  const rows: CachedModelInfo[] = [];
  for (const m of catalogModels()) {
    for (const [format, f] of Object.entries(m.files) as [ModelFormat, CatalogFile][]) {
      const p = path.join(modelsDir, f.file);
      const here = fs.existsSync(p);
      rows.push({ name: m.name, format, sizeMiB: here ? fs.statSync(p).size / 2 ** 20 : f.sizeMiB, ...(here ? { path: p } : {}) });
    }
  }
  return rows;
}

/** Deletes a model's cached files (both formats, and any partial download); returns what was removed. */
export function removeModel(name: string, modelsDir: string): string[] {
  const m = catalogModel(name);
  const removed: string[] = [];
  for (const f of Object.values(m.files)) {
    for (const p of [path.join(modelsDir, f.file), path.join(modelsDir, `${f.file}.part`)]) {
      if (fs.existsSync(p)) {
        fs.rmSync(p);
        removed.push(p);
      }
    }
  }
  if (removed.length === 0) throw new SimulstreamError('ERR_MODEL_NOT_FOUND', `model "${name}" is not in ${modelsDir}`);
  return removed;
}
