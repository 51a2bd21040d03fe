/**
 * Cuts a byte stream into whole frames (a 16-bit sample, an interleaved stereo frame, a WAV
 * block): a write may end anywhere inside a frame (a TCP split, a WebSocket frame of odd length),
 * and the partial frame is carried, copied, to the next write.
 */
export class FrameCarry {
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly frameBytes: number) {}

  /** Bytes of a partial frame held for the next write (0 to `frameBytes` − 1). */
  get pending(): number {
    return this.carry.length;
  }

  /** The whole frames of what was written so far and not yet taken: the carried bytes, then `chunk`'s. */
  take(chunk: Buffer): Buffer {
    const b = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const whole = b.length - (b.length % this.frameBytes);
    this.carry = Buffer.from(b.subarray(whole));
    return b.subarray(0, whole);
  }
}
