import fs from 'node:fs';
import path from 'node:path';
import { SimulstreamError } from '../errors.js';

/** One line of an evaluation manifest (`audio` or `file`, relative to the manifest). */
/** One file of an evaluation set. */
export interface ManifestEntry {
  /** The audio file. */
  readonly audio: string;
  /** Its reference transcript. */
  readonly text: string;
  /** Its language code. */
  readonly language: string;
}

/** Reads a JSON Lines manifest: `{"audio": path, "text": reference, "language": "fr"}` per line. */
export function readManifest(file: string): ManifestEntry[] {
  const dir = path.dirname(path.resolve(file));
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new SimulstreamError('ERR_INVALID_OPTION', `${file}:${i + 1}: not JSON`);
      }
      const audio = (o.audio ?? o.file) as string | undefined;
      if (typeof audio !== 'string' || typeof o.text !== 'string') {
        throw new SimulstreamError('ERR_INVALID_OPTION', `${file}:${i + 1}: needs "audio" (or "file") and "text"`);
      }
      return { audio: path.resolve(dir, audio), text: o.text, language: typeof o.language === 'string' ? o.language : 'en' };
    });
}
