import { FrameCarry } from './frame-carry.js';

/** Bytes of one interleaved s16le stereo frame (left sample, right sample). */
const FRAME = 4;

/**
 * Interleaved s16le stereo (L, R, L, R, …) → the left and the right channel, each s16le mono.
 * A write may end anywhere inside a frame (a WebSocket frame of odd length, a TCP split): the
 * partial frame is carried to the next write, so the channels never swap or slip.
 */
export class Deinterleaver {
  private readonly frames = new FrameCarry(FRAME);

  /** Bytes of a partial frame held for the next write (0–3). */
  get pending(): number {
    return this.frames.pending;
  }

  /** The whole frames of what was written so far, split: `[left, right]`. */
  push(chunk: Buffer): [Buffer, Buffer] {
    const b = this.frames.take(chunk);
    const frames = b.length / FRAME;
    const left = Buffer.alloc(frames * 2);
    const right = Buffer.alloc(frames * 2);
    for (let i = 0; i < frames; i++) {
      left.writeInt16LE(b.readInt16LE(FRAME * i), 2 * i);
      right.writeInt16LE(b.readInt16LE(FRAME * i + 2), 2 * i);
    }
    return [left, right];
  }
}
