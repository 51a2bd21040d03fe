import { Transform, type TransformCallback } from 'node:stream';
import { FrameCarry } from './frame-carry.js';
import { clampS16, SAMPLE_RATE } from './pcm.js';
import type { WavLayout } from './wav-header.js';
import { InternalError } from '../errors.js';

/**
 * A little-endian 16 kHz WAV file, header included → its samples as s16le mono: the header and
 * anything after the `data` chunk are dropped; 16-bit mono data passes through untouched (the same
 * bytes); other depths (8-bit unsigned, 24/32-bit int, 32/64-bit float) and channel counts are
 * converted frame by frame (channels averaged, then rounded and clamped to 16 bits). A partial
 * frame at the very end is dropped.
 */
export class WavSamples extends Transform {
  private skip: number;
  private left: number;
  private readonly frames: FrameCarry;
  private readonly copy: boolean;

  constructor(private readonly layout: WavLayout) {
    super();
    if (layout.bigEndian || layout.sampleRate !== SAMPLE_RATE) throw new InternalError('WavSamples reads little-endian 16 kHz WAV only');
    this.skip = layout.dataOffset;
    this.left = layout.dataBytes ?? Number.POSITIVE_INFINITY;
    this.frames = new FrameCarry(layout.blockAlign);
    this.copy = layout.encoding === 'int' && layout.bitsPerSample === 16 && layout.channels === 1;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let b = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, b.length);
      this.skip -= n;
      b = b.subarray(n);
    }
    if (b.length > this.left) b = b.subarray(0, this.left);
    this.left -= b.length;
    if (b.length === 0) return done();
    if (this.copy) return done(null, b);
    const whole = this.frames.take(b);
    done(null, whole.length > 0 ? this.convert(whole) : undefined);
  }

  /** Whole frames → s16le mono. */
  private convert(b: Buffer): Buffer {
    const { channels, bitsPerSample, encoding, blockAlign } = this.layout;
    const frames = b.length / blockAlign;
    const out = Buffer.alloc(frames * 2);
    const width = bitsPerSample / 8;
    const read = sampleReader(encoding, bitsPerSample);
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += read(b, f * blockAlign + c * width);
      out.writeInt16LE(clampS16((sum / channels) * 32768), f * 2);
    }
    return out;
  }
}

/** A sample at a byte offset as a float in [-1, 1). */
function sampleReader(encoding: 'int' | 'float', bits: number): (b: Buffer, at: number) => number {
  if (encoding === 'float') return bits === 64 ? (b, at) => b.readDoubleLE(at) : (b, at) => b.readFloatLE(at);
  switch (bits) {
    case 8:
      return (b, at) => (b[at]! - 128) / 128;
    case 16:
      return (b, at) => b.readInt16LE(at) / 32768;
    case 24:
      return (b, at) => b.readIntLE(at, 3) / 8388608;
    default:
      return (b, at) => b.readInt32LE(at) / 2147483648;
  }
}
