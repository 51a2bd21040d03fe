import { Transform, type TransformCallback } from 'node:stream';
import { FrameCarry } from '../audio/frame-carry.js';
import { BYTES_PER_SAMPLE, clampS16 } from '../audio/pcm.js';

const TAPS = 16;
/** Half-sample interpolation filter: windowed sinc (Blackman), 16 taps, unity gain. */
const ODD = ((): Float64Array => {
  const h = new Float64Array(TAPS);
  for (let j = 0; j < TAPS; j++) {
    const t = j - (TAPS / 2 - 0.5);
    const sinc = Math.sin(Math.PI * t) / (Math.PI * t);
    const n = j + 0.5;
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / TAPS) + 0.08 * Math.cos((4 * Math.PI * n) / TAPS);
    h[j] = sinc * w;
  }
  const sum = h.reduce((a, b) => a + b, 0);
  return h.map((v) => v / sum);
})();

/**
 * s16le 8 kHz → s16le 16 kHz (telephone recordings at the codec's rate): every input sample is
 * kept, and a windowed-sinc interpolates the one between. Stateful across writes (no seams), an odd
 * byte is carried; the output is exactly twice the input, delayed by nothing at the end (the tail
 * is flushed with silence after it).
 */
export class Upsample2x extends Transform {
  private readonly hist = new Float64Array(TAPS);
  /** Input samples in the history that are real (the first TAPS/2 - 1 are leading silence). */
  private filled = TAPS / 2 - 1;
  private readonly samplesIn = new FrameCarry(BYTES_PER_SAMPLE);
  /** Real input samples whose output pair is not written yet. */
  private pendingOut = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const b = this.samplesIn.take(chunk);
    const n = b.length >> 1;
    const out = Buffer.alloc(n * 4);
    let o = 0;
    for (let i = 0; i < n; i++) o = this.feed(b.readInt16LE(2 * i), out, o);
    done(null, out.subarray(0, o));
  }

  override _flush(done: TransformCallback): void {
    const out = Buffer.alloc(TAPS * 4);
    let o = 0;
    for (let i = 0; i < TAPS / 2; i++) o = this.feed(0, out, o, true);
    done(null, out.subarray(0, o));
  }

  /** Pushes one input sample; writes the output pair it completes, if any. */
  private feed(x: number, out: Buffer, o: number, tail = false): number {
    this.hist.copyWithin(0, 1);
    this.hist[TAPS - 1] = x;
    if (!tail) this.pendingOut++;
    if (this.filled < TAPS - 1) {
      this.filled++;
      return o;
    }
    if (this.pendingOut === 0) return o;
    this.pendingOut--;
    const even = this.hist[TAPS / 2 - 1]!;
    let odd = 0;
    for (let j = 0; j < TAPS; j++) odd += this.hist[j]! * ODD[j]!;
    out.writeInt16LE(clampS16(even), o);
    out.writeInt16LE(clampS16(odd), o + 2);
    return o + 4;
  }
}

