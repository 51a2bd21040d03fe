import { Transform, type TransformCallback } from 'node:stream';
import type { TimedWord } from '../decode/align-att.js';
import type { RawSegment } from './segment-formatter.js';

/** A transcript segment: times in milliseconds, whole characters only. */
export interface Segment {
  /** Where the line starts in the stream's audio (ms). */
  readonly startMs: number;
  /** Where it ends (ms); at the end of the stream, all the audio received. */
  readonly endMs: number;
  /** The text as decoded (usually with a leading space), whole characters only. */
  readonly text: string;
  /** Its words, timed by their tokens' most-attended frames. */
  readonly words: readonly TimedWord[];
  /** From a final pass: the end of the stream, or with voice activity control the end of an utterance. */
  readonly final: boolean;
  /** Emission time in the audio's clock (ms): the chunk's arrival plus the compute. */
  readonly emittedMs: number;
  /** The stream audio (ms) the policy had received when it produced this segment. */
  readonly audioEndMs: number;
}

/**
 * Segments with byte text → segments with whole characters: a token that ends inside a multi-byte
 * UTF-8 character (frequent in French) has its incomplete bytes held and put in front of the next
 * segment's text, so U+FFFD is never produced from a split character.
 */
export class Utf8Carry extends Transform {
  private held: Uint8Array = new Uint8Array(0);

  constructor() {
    super({ objectMode: true });
  }

  /** The last segment passed on, for the held bytes at the end. */
  private previous: RawSegment | null = null;

  /** @internal */
  override _transform(seg: RawSegment, _enc: BufferEncoding, done: TransformCallback): void {
    const bytes = this.held.length ? Buffer.concat([this.held, seg.bytes]) : seg.bytes;
    const cut = bytes.length - incompleteTail(bytes);
    this.held = bytes.slice(cut);
    this.previous = seg;
    // (an empty segment is an utterance-end marker and goes through)
    if (cut === 0 && seg.bytes.length > 0) {
      done();
      return;
    }
    done(null, segment(seg, Buffer.from(bytes.buffer, bytes.byteOffset, cut).toString('utf8')));
  }

  /**
   * A character still incomplete at the end of the stream becomes U+FFFD (as `StringDecoder.end()`
   * does), in a last segment at the previous one's end: nothing is dropped silently.
   * @internal
   */
  override _flush(done: TransformCallback): void {
    const held = this.held;
    this.held = new Uint8Array(0);
    if (held.length === 0 || !this.previous) return done();
    const p = this.previous;
    done(null, segment({ ...p, start: p.end, words: [] }, Buffer.from(held).toString('utf8')));
  }
}

function segment(seg: RawSegment, text: string): Segment {
  return {
    startMs: seg.start * 1000,
    endMs: seg.end * 1000,
    text,
    words: seg.words,
    final: seg.final,
    emittedMs: seg.emitted * 1000,
    audioEndMs: seg.audioEnd * 1000,
  };
}

/**
 * How many bytes at the end of `b` begin a UTF-8 character that is not complete yet (0–3).
 */
export function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  for (let k = 1; k <= Math.min(3, n); k++) {
    const c = b[n - k]!;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}
