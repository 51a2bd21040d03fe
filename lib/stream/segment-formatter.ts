import { Transform, type TransformCallback } from 'node:stream';
import type { TimedWord } from '../decode/align-att.js';
import type { EmittedUpdate } from './align-att-decoder.js';

/** A line of output before character checks: times in seconds, text as UTF-8 bytes. */
export interface RawSegment {
  /** Seconds of the stream's audio. */
  readonly start: number;
  /** Seconds of the stream's audio. */
  readonly end: number;
  /** The text's UTF-8 bytes (a token may end inside a character). */
  readonly bytes: Uint8Array;
  /** The words of the update. */
  readonly words: readonly TimedWord[];
  /** From a final pass. */
  readonly final: boolean;
  /** When it was emitted, in the audio's clock (seconds); see `EmittedUpdate.emitted`. */
  readonly emitted: number;
  /** The stream audio (seconds) the update had received. */
  readonly audioEnd: number;
}

/**
 * The policy's updates → timed segments, with SimulStreaming's line times: start is the earliest
 * word start but at least the previous line's end + 1 ms; end is the latest word end (at end of
 * stream: all the audio received), at least start + 1 ms. Updates without text give nothing.
 */
export class SegmentFormatter extends Transform {
  private lastEnd = Number.NEGATIVE_INFINITY;
  private readonly utteranceEnds: boolean;

  /** `utteranceEnds`: a final update without text still gives an (empty) segment, marking the end of an utterance. */
  constructor(opts: { utteranceEnds?: boolean } = {}) {
    super({ objectMode: true });
    this.utteranceEnds = opts.utteranceEnds ?? false;
  }

  /** @internal */
  override _transform(u: EmittedUpdate, _enc: BufferEncoding, done: TransformCallback): void {
    if (u.bytes.length === 0 || u.words.length === 0) {
      if (!(this.utteranceEnds && u.final)) return done();
      const at = Math.max(this.lastEnd, u.audioEnd);
      return done(null, { start: at, end: at, bytes: new Uint8Array(0), words: [], final: true, emitted: u.emitted, audioEnd: u.audioEnd } satisfies RawSegment);
    }
    const start = Math.max(Math.min(...u.words.map((w) => w.start)), this.lastEnd + 0.001);
    let end = u.final ? u.audioEnd : Math.max(...u.words.map((w) => w.end));
    end = Math.max(end, start + 0.001);
    this.lastEnd = end;
    const seg: RawSegment = {
      start,
      end,
      bytes: u.bytes,
      words: u.words,
      final: u.final,
      emitted: u.emitted,
      audioEnd: u.audioEnd,
    };
    done(null, seg);
  }
}
