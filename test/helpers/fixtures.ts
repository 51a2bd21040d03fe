import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAudioFile } from '../../lib/audio/wav.js';
import { floatToS16le } from '../../lib/audio/pcm.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (tests run from dist/test/…). */
export const ROOT = [path.resolve(here, '../..'), path.resolve(here, '../../..')].find((d) =>
  fs.existsSync(path.join(d, 'package.json')),
)!;
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const REF_FIXTURES = path.join(FIXTURES, 'whisper-reference');

/** `../shared` beside the checkout (CI has it; a fresh clone alone may not). */
export const SHARED = [process.env.SIMULSTREAM_SHARED, path.resolve(ROOT, '../shared')].find(
  (d): d is string => !!d && fs.existsSync(path.join(d, 'whisper-reference')),
);
export const SKIP_NO_SHARED = SHARED ? false : 'needs ../shared (full reference set)';
/** Slow end-to-end tests run when SIMULSTREAM_SLOW=1 (CI sets it). */
export const SKIP_SLOW = process.env.SIMULSTREAM_SLOW === '1' ? false : 'slow: set SIMULSTREAM_SLOW=1';

export function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

const temporary: string[] = [];
process.on('exit', () => temporary.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A fresh temporary directory, removed at process exit. */
export function tempDir(prefix = 'simulstream-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporary.push(d);
  return d;
}

/** One compiled-graph cache for the whole test process. */
let cache: string | undefined;
export function testCacheDir(): string {
  cache ??= tempDir('simulstream-cache-');
  return cache;
}

/** max |a - b| / max |ref| */
export function relativeError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

export interface ReferenceManifest {
  audio: Record<
    string,
    {
      prefix_tokens: number[];
      detect_language_top3: [string, number][];
      greedy: { tokens: number[]; text: string };
      beam3: { tokens: number[]; text: string };
    }
  >;
  tokenizer: { text: string; tokens: number[] }[];
  special_tokens: Record<string, number>;
}

export function referenceManifest(): ReferenceManifest {
  return JSON.parse(fs.readFileSync(path.join(REF_FIXTURES, 'manifest.json'), 'utf8')) as ReferenceManifest;
}

/** The toy model's bundled clips (`test/fixtures/toy/`). */
export const TOY = path.join(FIXTURES, 'toy');
export const TOY_CLIPS = ['fr-000', 'fr-001', 'en-000', 'en-001'] as const;

/** A manifest of the bundled toy clips, with their reference texts. */
export function toyClipsManifest(): { audio: string; text: string; language: string }[] {
  return TOY_CLIPS.map((n) => {
    const ref = JSON.parse(fs.readFileSync(path.join(TOY, `${n}.reference.json`), 'utf8')) as { reference_text: string; language: string };
    return { audio: path.join(TOY, `${n}.wav`), text: ref.reference_text, language: ref.language };
  });
}

/** A bundled toy clip as raw s16le bytes, as a client would send it. */
export function toyPcm(file: string): Buffer {
  return floatToS16le(readAudioFile(path.join(TOY, file)).samples);
}
