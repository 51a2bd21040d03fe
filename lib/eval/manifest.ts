import fs from 'node:fs';
import path from 'node:path';
import { SimulstreamError } from '../errors.js';

/** A sentence of a long recording: where it is spoken (seconds) and what is said. */
export interface ManifestSegment {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** One file of an evaluation set: a line of a manifest (`audio` or `file`, relative to the manifest). */
export interface ManifestEntry {
  /** The audio file. */
  readonly audio: string;
  /** Its reference transcript. */
  readonly text: string;
  /** Its language code. */
  readonly language: string;
  /** The sentences and their times, when the manifest gives them (the toy test set's long files). */
  readonly segments?: readonly ManifestSegment[];
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
      const segments = o.segments === undefined ? undefined : readSegments(o.segments, `${file}:${i + 1}`);
      return {
        audio: path.resolve(dir, audio),
        text: o.text,
        language: typeof o.language === 'string' ? o.language : 'en',
        ...(segments ? { segments } : {}),
      };
    });
}

function readSegments(v: unknown, where: string): ManifestSegment[] {
  const ok = (x: unknown): x is ManifestSegment => {
    const o = x as Record<string, unknown>;
    return typeof o === 'object' && o !== null && typeof o.start === 'number' && typeof o.end === 'number' && typeof o.text === 'string' && o.end >= o.start;
  };
  if (!Array.isArray(v) || !v.every(ok)) throw new SimulstreamError('ERR_INVALID_OPTION', `${where}: "segments" must be a list of {start, end, text} (seconds, end ≥ start)`);
  return v.map((x) => ({ start: x.start, end: x.end, text: x.text }));
}
