import { SAMPLE_RATE } from '../audio/mel.js';
import type { StreamingLogMel } from '../audio/streaming-mel.js';

/** 20 ms encoder frames per second. */
export const FRAMES_PER_SECOND = 50;

/**
 * The policy's audio buffer, SimulStreaming's `segments` and `tokens` lists: the inserted chunks
 * (at most `maxSeconds` of them, the oldest leaving first) and, apart, the tokens each decoding
 * iteration committed. When a chunk leaves, the oldest iteration's tokens leave with it (they go
 * to the context), as SimulStreaming does; the two lists are not aligned one to one (an iteration
 * without new audio still commits, a chunk inserted while waiting for `audio_min_len` commits nothing).
 */
export class AudioBuffer {
  private chunks: number[] = [];
  private groups: number[][] = [];
  /** Seconds of stream audio before the buffer's first sample. */
  offset = 0;

  constructor(
    readonly mel: StreamingLogMel,
    readonly maxSeconds: number,
  ) {}

  /** Samples in the buffer. */
  get length(): number {
    return this.mel.length;
  }

  get seconds(): number {
    return this.mel.length / SAMPLE_RATE;
  }

  /** Frames holding real audio (SimulStreaming's `content_mel_len`). */
  get contentFrames(): number {
    return Math.floor(this.mel.length / 320);
  }

  /** Every committed token of the buffer, oldest first. */
  committed(): number[] {
    return this.groups.flat();
  }

  /** Records the tokens one iteration committed. */
  commit(tokens: readonly number[]): void {
    this.groups.push([...tokens]);
  }

  /**
   * Appends a chunk and drops the oldest chunks while the buffer is too long (keeping the newest);
   * `onLeave` gets each leaving chunk's length in seconds and the tokens that leave with it.
   */
  insert(chunk: Float32Array, onLeave: (seconds: number, tokens: number[]) => void): void {
    if (chunk.length > 0) {
      this.mel.append(chunk);
      this.chunks.push(chunk.length);
    }
    const max = this.maxSeconds * SAMPLE_RATE;
    while (this.chunks.length > 1 && this.mel.length > max) {
      const removed = this.chunks.shift()!;
      this.mel.dropFront(removed);
      const seconds = removed / SAMPLE_RATE;
      this.offset += seconds;
      onLeave(seconds, this.groups.length > 0 ? this.groups.shift()! : []);
    }
    if (this.mel.length > max) {
      // a single chunk longer than the buffer: keep its last maxSeconds
      const cut = this.mel.length - max;
      this.mel.dropFront(cut);
      this.chunks[0]! -= cut;
      this.offset += cut / SAMPLE_RATE;
      onLeave(cut / SAMPLE_RATE, []);
    }
  }

  /** Empties the buffer; the stream's clock moves to `offset`. */
  clear(offset: number): void {
    this.chunks = [];
    this.groups = [];
    this.mel.clear();
    this.offset = offset;
  }
}
