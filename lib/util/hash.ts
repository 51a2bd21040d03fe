import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';

/** Streams a file through a hash; returns the hex digest. */
export async function hashFile(file: string, algorithm = 'sha256'): Promise<string> {
  const h = crypto.createHash(algorithm);
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 22 }), h);
  return h.digest('hex');
}
