import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidOptionError, SimulstreamError } from '../errors.js';
import { hashFile } from '../util/hash.js';
import { catalogFile, catalogModel, catalogModels, type CatalogFile, type ModelFormat } from './catalog.js';
import { download, type Checksum, type DownloadProgress } from './download.js';

export interface PullOptions {
  /** The cache (see `defaultModelsDir()`). */
  readonly modelsDir: string;
  /** `pt` (OpenAI's, the default) or `ggml` (whisper.cpp's). */
  readonly format?: ModelFormat;
  /**
   * Where to fetch the files by name instead of the official hosts: an `http(s)://` base URL, a
   * `file://` URL or a directory path (a local mirror).
   */
  readonly mirror?: string;
  readonly onProgress?: (p: DownloadProgress) => void;
  readonly log?: (msg: string) => void;
}

/** The base URL of a `--mirror`: http(s) and file URLs as they are, anything else a directory path. */
export function mirrorBase(mirror: string): URL {
  if (/^[a-z][a-z0-9+.-]*:\/\//iu.test(mirror)) {
    let u: URL;
    try {
      u = new URL(mirror);
    } catch {
      throw new InvalidOptionError('--mirror', `"${mirror}" is not a valid URL`);
    }
    if (!['http:', 'https:', 'file:'].includes(u.protocol)) throw new InvalidOptionError('--mirror', `${u.protocol}// is not supported: give an http(s):// or file:// URL, or a directory`);
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    return u;
  }
  return pathToFileURL(`${path.resolve(mirror)}${path.sep}`);
}

function sourceUrl(f: CatalogFile, mirror?: string): string {
  return mirror ? new URL(f.file, mirrorBase(mirror)).toString() : f.url;
}

/** The checksum the catalog publishes for a file, if any. */
export function catalogChecksum(f: CatalogFile): Checksum | undefined {
  return f.sha256 ? { algorithm: 'sha256', hex: f.sha256 } : f.sha1 ? { algorithm: 'sha1', hex: f.sha1 } : undefined;
}

/**
 * A catalog model's file in the cache, downloaded (resumable, checksum-verified) when it is not
 * there yet, and verified against the catalog's checksum before its first use when it was put
 * there by hand. Returns its path.
 */
export async function pullModel(name: string, opts: PullOptions): Promise<string> {
  const f = catalogFile(catalogModel(name), opts.format);
  const dest = path.join(opts.modelsDir, f.file);
  const checksum = catalogChecksum(f);
  if (fs.existsSync(dest)) {
    await verifyCachedFile(dest, f, opts.log);
    return dest;
  }
  const url = sourceUrl(f, opts.mirror);
  opts.log?.(`downloading ${name} (${f.sizeMiB} MiB) from ${url}`);
  await download(url, dest, { ...(checksum ? { checksum } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  if (checksum) rememberVerified(dest, checksum);
  opts.log?.(`${name}: ${dest} (${checksum ? `${checksum.algorithm} verified` : 'no checksum known'})`);
  return dest;
}

/** What the cache holds of a catalog file. */
export type CacheState =
  /** Not there. */
  | 'missing'
  /** Only a partial download (`.part`), resumed by the next pull. */
  | 'partial'
  /** There, not yet checked against its checksum (put by hand, or changed since): checked on first use. */
  | 'unverified'
  /** There and checked (downloaded and verified, or verified once on first use). */
  | 'verified';

/** The record of a verified file: `<file>.verified`, valid while the file's size and mtime are unchanged. */
interface VerifiedRecord {
  readonly algorithm: string;
  readonly hex: string;
  readonly size: number;
  readonly mtimeMs: number;
}

const sidecar = (file: string): string => `${file}.verified`;

function rememberVerified(file: string, checksum: Checksum): void {
  const st = fs.statSync(file);
  const rec: VerifiedRecord = { algorithm: checksum.algorithm, hex: checksum.hex.toLowerCase(), size: st.size, mtimeMs: st.mtimeMs };
  fs.writeFileSync(sidecar(file), `${JSON.stringify(rec)}\n`);
}

function isRemembered(file: string, checksum: Checksum): boolean {
  let rec: VerifiedRecord;
  try {
    rec = JSON.parse(fs.readFileSync(sidecar(file), 'utf8')) as VerifiedRecord;
  } catch {
    return false; // no record (or a damaged one): not verified
  }
  const st = fs.statSync(file);
  return rec.algorithm === checksum.algorithm && rec.hex === checksum.hex.toLowerCase() && rec.size === st.size && rec.mtimeMs === st.mtimeMs;
}

/** The cache state of a catalog file at `file`. */
export function cacheState(file: string, f: CatalogFile): CacheState {
  if (!fs.existsSync(file)) return fs.existsSync(`${file}.part`) ? 'partial' : 'missing';
  const checksum = catalogChecksum(f);
  return !checksum || isRemembered(file, checksum) ? 'verified' : 'unverified';
}

/**
 * Checks a cached file against the catalog's checksum, once: a file whose verification is
 * remembered (same size and mtime) is not hashed again. A mismatch throws `ERR_CHECKSUM` and
 * leaves the file where it is (it may be the user's own).
 */
export async function verifyCachedFile(file: string, f: CatalogFile, log?: (msg: string) => void): Promise<void> {
  const checksum = catalogChecksum(f);
  if (!checksum || isRemembered(file, checksum)) return;
  log?.(`verifying ${file} (${checksum.algorithm}; once)`);
  const got = await hashFile(file, checksum.algorithm);
  if (got !== checksum.hex.toLowerCase()) {
    throw new SimulstreamError(
      'ERR_CHECKSUM',
      `${file}: ${checksum.algorithm} is ${got}, expected ${checksum.hex} (the catalog's ${f.file}); it is damaged or another file: remove it (simulstream models rm) and pull it again, or pass it as it is with --model_path`,
    );
  }
  rememberVerified(file, checksum);
}

export interface CachedModelInfo {
  readonly name: string;
  readonly format: ModelFormat;
  /** The file name in the cache. */
  readonly file: string;
  /** The file's size when it is there, else the catalog's. */
  readonly sizeMiB: number;
  readonly state: CacheState;
  /** The file, when it is in the cache. */
  readonly path?: string;
}

/** Every catalog file, with its cache state. */
export function listModels(modelsDir: string): CachedModelInfo[] {
  const rows: CachedModelInfo[] = [];
  for (const m of catalogModels()) {
    for (const [format, f] of Object.entries(m.files) as [ModelFormat, CatalogFile][]) {
      const p = path.join(modelsDir, f.file);
      const state = cacheState(p, f);
      const here = state === 'verified' || state === 'unverified';
      rows.push({ name: m.name, format, file: f.file, sizeMiB: here ? fs.statSync(p).size / 2 ** 20 : f.sizeMiB, state, ...(here ? { path: p } : {}) });
    }
  }
  return rows;
}

/** Deletes a model's cached files (both formats, any partial download, the verification records); returns what was removed. */
export function removeModel(name: string, modelsDir: string): string[] {
  const m = catalogModel(name);
  const removed: string[] = [];
  for (const f of Object.values(m.files)) {
    const file = path.join(modelsDir, f.file);
    for (const p of [file, `${file}.part`, sidecar(file)]) {
      if (fs.existsSync(p)) {
        fs.rmSync(p);
        if (p !== sidecar(file)) removed.push(p);
      }
    }
  }
  if (removed.length === 0) throw new SimulstreamError('ERR_MODEL_NOT_FOUND', `model "${name}" is not in ${modelsDir}`);
  return removed;
}
