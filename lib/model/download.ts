import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { SimulstreamError } from '../errors.js';
import { hashFile } from '../util/hash.js';

export interface Checksum {
  readonly algorithm: 'sha256' | 'sha1';
  readonly hex: string;
}

export interface DownloadProgress {
  readonly received: number;
  /** Total bytes, when the server says. */
  readonly total: number | undefined;
}

export interface DownloadOptions {
  readonly checksum?: Checksum;
  readonly onProgress?: (p: DownloadProgress) => void;
  /** Attempts after a connection is cut (each resumes where the last stopped). Default 3. */
  readonly retries?: number;
  /** Seconds without data before an attempt is given up. Default 30. */
  readonly stallTimeout?: number;
}

/**
 * Downloads `url` (http, https, or `file:` for a mirror on disk) to `dest`: into `dest.part`, resumed with an HTTP Range request when the
 * connection is cut (or when a previous run left a part), checked against its checksum, then
 * renamed into place, so `dest` is either absent or complete and verified. A checksum mismatch
 * deletes the part and throws ERR_CHECKSUM; a failed download throws ERR_DOWNLOAD and says where
 * to put the file by hand.
 */
export async function download(url: string, dest: string, opts: DownloadOptions = {}): Promise<void> {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const retries = opts.retries ?? 3;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      await (url.startsWith('file:') ? copyInto(url, part, opts) : fetchInto(url, part, opts));
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err as Error;
      if (err instanceof SimulstreamError && err.code !== 'ERR_DOWNLOAD') throw err;
      if ((err as { permanent?: boolean }).permanent) break;
    }
  }
  if (lastError) {
    const sum = opts.checksum ? ` (${opts.checksum.algorithm} ${opts.checksum.hex})` : '';
    throw new SimulstreamError(
      'ERR_DOWNLOAD',
      `cannot download ${url}: ${lastError.message}. Without network access, fetch it elsewhere and put it at ${dest}${sum}`,
      { cause: lastError },
    );
  }
  if (opts.checksum) {
    const got = await hashFile(part, opts.checksum.algorithm);
    if (got !== opts.checksum.hex.toLowerCase()) {
      fs.rmSync(part, { force: true });
      throw new SimulstreamError('ERR_CHECKSUM', `${url}: ${opts.checksum.algorithm} is ${got}, expected ${opts.checksum.hex}; the download was deleted, nothing was installed`);
    }
  }
  fs.renameSync(part, dest);
}

/** A `file:` URL copied to `part` (a missing file is permanent: no retry). */
async function copyInto(url: string, part: string, opts: DownloadOptions): Promise<void> {
  const from = fileURLToPath(url);
  let total: number;
  try {
    total = fs.statSync(from).size;
  } catch (err) {
    throw Object.assign(new Error((err as NodeJS.ErrnoException).code === 'ENOENT' ? `no such file ${from}` : (err as Error).message), { permanent: true });
  }
  let received = 0;
  const src = fs.createReadStream(from, { highWaterMark: 1 << 22 });
  src.on('data', (b: Buffer | string) => {
    received += b.length;
    opts.onProgress?.({ received, total });
  });
  await pipeline(src, fs.createWriteStream(part));
}

/** One attempt: appends to `part` from where it ends (Range), following redirects. */
function fetchInto(url: string, part: string, opts: DownloadOptions, redirects = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= 5) return reject(Object.assign(new Error('too many redirects'), { permanent: true }));
        fetchInto(new URL(res.headers.location, url).toString(), part, opts, redirects + 1).then(resolve, reject);
        return;
      }
      if (status === 416 && have > 0) {
        res.resume(); // the part is already whole
        return resolve();
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        return reject(Object.assign(new Error(`HTTP ${status}`), { permanent: status >= 400 && status < 500 }));
      }
      const resumed = status === 206;
      const length = Number(res.headers['content-length']);
      const total = Number.isFinite(length) ? length + (resumed ? have : 0) : undefined;
      let received = resumed ? have : 0;
      const out = fs.createWriteStream(part, { flags: resumed ? 'a' : 'w' });
      res.on('data', (b: Buffer) => {
        received += b.length;
        opts.onProgress?.({ received, total });
      });
      res.on('aborted', () => out.destroy(new Error('connection cut')));
      res.on('error', (e) => out.destroy(e));
      out.on('error', reject);
      out.on('finish', () => {
        if (total !== undefined && received < total) reject(new Error(`connection cut at ${received} of ${total} bytes`));
        else resolve();
      });
      res.pipe(out);
    });
    req.setTimeout((opts.stallTimeout ?? 30) * 1000, () => req.destroy(new Error('no data (timeout)')));
    req.on('error', reject);
  });
}

/** A progress printer: a redrawn bar on a TTY, a line every 10 % otherwise. */
export function progressPrinter(out: NodeJS.WritableStream & { isTTY?: boolean }, label: string): (p: DownloadProgress) => void {
  let lastDecile = -1;
  let lastDraw = 0;
  const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
  return ({ received, total }) => {
    if (out.isTTY) {
      const now = Date.now();
      if (now - lastDraw < 100 && received !== total) return;
      lastDraw = now;
      const frac = total ? received / total : 0;
      const bar = total ? `[${'#'.repeat(Math.round(frac * 30)).padEnd(30)}] ${(frac * 100).toFixed(0).padStart(3)}% ` : '';
      out.write(`\r${label} ${bar}${mib(received)}${total ? `/${mib(total)}` : ''} MiB`);
      if (total && received >= total) out.write('\n');
      return;
    }
    const decile = total ? Math.floor((received / total) * 10) : -1;
    if (decile > lastDecile) {
      lastDecile = decile;
      out.write(`${label}: ${decile * 10}% (${mib(received)} of ${mib(total!)} MiB)\n`);
    }
  };
}
