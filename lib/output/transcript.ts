import type { Segment } from '../stream/utf8-carry.js';
import { wholeMs } from './cue-time.js';

/** A word of {@link TranscriptSegment}: times in integer milliseconds of the audio. */
export interface TranscriptWord {
  readonly startMs: number;
  readonly endMs: number;
  /** As decoded, usually with its leading space. */
  readonly text: string;
  /** Whisper token ids. */
  readonly tokens: readonly number[];
}

/** One segment of {@link TranscriptDocument}: what one line of the streaming output said. */
export interface TranscriptSegment {
  readonly startMs: number;
  readonly endMs: number;
  /** As decoded, usually with a leading space. */
  readonly text: string;
  /** From a final pass (the end of the audio, or of an utterance with `--vac`). */
  readonly final: boolean;
  /** Streaming only: when it was emitted, in the audio's clock (ms). */
  readonly emittedMs?: number;
  /** Streaming only (offline decoding has no word times). */
  readonly words: readonly TranscriptWord[];
}

/**
 * `transcribe --output-format json`: one document per input, every time in integer
 * milliseconds of the audio (the README documents each field).
 */
export interface TranscriptDocument {
  /** What wrote it; `simulstream-transcript` version 1. */
  readonly format: 'simulstream-transcript/1';
  /** `streaming` (the AlignAtt policy) or `offline` (whole-file decoding, one segment per window). */
  readonly mode: 'streaming' | 'offline';
  /** The input: a file name, or `stdin`. */
  readonly source: string;
  /** The language decoded: as given, or (offline with `auto`) the one detected. */
  readonly language: string;
  /** The audio's length. */
  readonly durationMs: number;
  /** Every segment's text, joined, without the leading space. */
  readonly text: string;
  readonly segments: readonly TranscriptSegment[];
}

/** A streaming segment (times in ms, words in seconds) → the document's segment. */
export function transcriptSegment(s: Segment, mode: 'streaming' | 'offline'): TranscriptSegment {
  return {
    startMs: wholeMs(s.startMs),
    endMs: wholeMs(s.endMs),
    text: s.text,
    final: s.final,
    ...(mode === 'streaming' ? { emittedMs: wholeMs(s.emittedMs) } : {}),
    words: s.words.map((w) => ({ startMs: wholeMs(w.start * 1000), endMs: wholeMs(w.end * 1000), text: w.text, tokens: [...w.tokens] })),
  };
}
