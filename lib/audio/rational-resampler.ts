import { Transform, type TransformCallback } from 'node:stream';
import { InternalError } from '../errors.js';
import { FrameCarry } from './frame-carry.js';
import { BYTES_PER_SAMPLE, clampS16, SAMPLE_RATE } from './pcm.js';

/** Zero crossings of the sinc on each side, at the lower of the two rates. */
const ZEROS = 16;
/** The pass band ends this far below the lower rate's Nyquist frequency. */
const ROLLOFF = 0.94;
/** Most polyphase coefficients one resampler may hold (44.1 kHz → 16 kHz needs 14 080). */
const MAX_COEFFICIENTS = 1 << 18;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Whether {@link RationalResampler} can convert `from` Hz to `to` Hz (integer rates whose ratio keeps its tables small). */
export function canResample(from: number, to = SAMPLE_RATE): boolean {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from <= 0 || to <= 0) return false;
  const g = gcd(from, to);
  const [up, down] = [to / g, from / g];
  return up * 2 * Math.ceil(ZEROS * Math.max(1, down / up)) <= MAX_COEFFICIENTS;
}

/**
 * s16le mono at any integer rate → s16le at `to` (16 kHz): a windowed-sinc (Blackman) polyphase
 * filter for the exact ratio `to/from` in lowest terms, its cut-off just below the lower rate's
 * Nyquist frequency. Output sample `n` is the input's value at time `n·from/to` (no delay); the
 * output of `k` input samples is `ceil(k·to/from)` samples, the tail computed at the flush with
 * silence after the input. Stateful across writes (no seams), an odd byte is carried; the output
 * does not depend on how the input was split.
 */
export class RationalResampler extends Transform {
  private readonly up: number;
  private readonly down: number;
  /** Taps on each side of the output's time, in input samples. */
  private readonly half: number;
  /** Per phase: the 2·half weights of inputs `i-half+1 … i+half`. */
  private readonly phases: Float64Array[];
  /** Input samples not yet out of every filter's reach; `history[0]` is input sample `base`. */
  private history = new Float64Array(0);
  private base: number;
  /** Input samples received. */
  private received = 0;
  /** The next output sample. */
  private next = 0;
  private readonly samplesIn = new FrameCarry(BYTES_PER_SAMPLE);

  constructor(
    readonly from: number,
    readonly to: number = SAMPLE_RATE,
  ) {
    super();
    if (!canResample(from, to)) throw new InternalError(`cannot resample ${from} Hz to ${to} Hz`);
    const g = gcd(from, to);
    this.up = to / g;
    this.down = from / g;
    const ratio = Math.min(1, this.up / this.down);
    this.half = Math.ceil(ZEROS / ratio);
    // cut-off in cycles per input sample
    const fc = 0.5 * ratio * ROLLOFF;
    this.phases = Array.from({ length: this.up }, (_, p) => {
      const frac = p / this.up;
      const w = new Float64Array(2 * this.half);
      let sum = 0;
      for (let j = 0; j < w.length; j++) {
        // input sample i - half + 1 + j, at distance t from the output's time i + frac
        const t = j - this.half + 1 - frac;
        const x = 2 * fc * t;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const u = (t + this.half) / (2 * this.half); // 0…1 across the window
        const win = u <= 0 || u >= 1 ? 0 : 0.42 - 0.5 * Math.cos(2 * Math.PI * u) + 0.08 * Math.cos(4 * Math.PI * u);
        w[j] = sinc * win;
        sum += w[j]!;
      }
      for (let j = 0; j < w.length; j++) w[j]! /= sum; // unity gain at DC in every phase
      return w;
    });
    // silence before the first sample
    this.history = new Float64Array(this.half);
    this.base = -this.half;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const b = this.samplesIn.take(chunk);
    const n = b.length >> 1;
    const samples = new Float64Array(n);
    for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(2 * i);
    this.append(samples);
    this.received += n;
    done(null, this.produce(false));
  }

  override _flush(done: TransformCallback): void {
    this.append(new Float64Array(this.half + 1));
    done(null, this.produce(true));
  }

  private append(samples: Float64Array): void {
    const h = new Float64Array(this.history.length + samples.length);
    h.set(this.history);
    h.set(samples, this.history.length);
    this.history = h;
  }

  /** Every output sample whose filter reach is in the history (at the end: up to the input's length). */
  private produce(end: boolean): Buffer {
    const last = this.base + this.history.length - 1; // newest input sample held
    const limit = end ? Math.ceil((this.received * this.up) / this.down) : Number.POSITIVE_INFINITY;
    const out: number[] = [];
    for (;;) {
      if (this.next >= limit) break;
      const pos = this.next * this.down;
      const i = Math.floor(pos / this.up);
      if (i + this.half > last) break;
      const w = this.phases[pos - i * this.up]!;
      const from = i - this.half + 1 - this.base;
      let acc = 0;
      for (let j = 0; j < w.length; j++) acc += w[j]! * this.history[from + j]!;
      out.push(acc);
      this.next++;
    }
    // drop what no later output can reach
    const keepFrom = Math.floor((this.next * this.down) / this.up) - this.half + 1;
    if (keepFrom > this.base) {
      this.history = this.history.slice(keepFrom - this.base);
      this.base = keepFrom;
    }
    const buf = Buffer.alloc(out.length * 2);
    for (let k = 0; k < out.length; k++) buf.writeInt16LE(clampS16(out[k]!), 2 * k);
    return buf;
  }
}
