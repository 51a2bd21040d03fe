import { Transform, type TransformCallback } from 'node:stream';
import { couldBeWavPrefix, EXPECTED_PCM, isWavHeader, s16leToFloat, SNIFF_BYTES } from '../audio/pcm.js';
import { SimulstreamError } from '../errors.js';

/**
 * Raw s16le bytes → `Float32Array` samples in [-1, 1). A stream that starts with a `RIFF…WAVE`
 * header fails with `ERR_WAV_HEADER` naming the expected format. An odd byte at the end of a write
 * is carried to the next one (TCP splits samples anywhere); a lone byte left at the very end
 * cannot be a sample and is reported with a `warning` event.
 */
export class PcmValidator extends Transform {
  private carry: Buffer = Buffer.alloc(0);
  private checked = false;
  /** Samples passed on so far. */
  samples = 0;

  constructor() {
    super({ writableObjectMode: false, readableObjectMode: true });
  }

  /** @internal */
  override _transform(chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (this.carry.length > 0) buf = Buffer.concat([this.carry, buf]);
    if (!this.checked) {
      if (buf.length < SNIFF_BYTES && couldBeWavPrefix(buf)) {
        this.carry = buf;
        done();
        return;
      }
      this.checked = true;
      if (isWavHeader(buf)) {
        done(
          new SimulstreamError(
            'ERR_WAV_HEADER',
            `the audio starts with a WAV (RIFF/WAVE) header; expected ${EXPECTED_PCM}. Send the samples only, e.g. convert with: ffmpeg -i in.wav -f s16le -ac 1 -ar 16000 out.raw`,
          ),
        );
        return;
      }
    }
    const even = buf.length & ~1;
    this.carry = even < buf.length ? Buffer.from(buf.subarray(even)) : Buffer.alloc(0);
    if (even > 0) {
      const out = s16leToFloat(buf.subarray(0, even));
      this.samples += out.length;
      this.push(out);
    }
    done();
  }

  /** @internal */
  override _flush(done: TransformCallback): void {
    if (!this.checked && this.carry.length > 0) {
      // a stream shorter than a WAV header: plain samples after all
      this.checked = true;
      const c = this.carry;
      this.carry = Buffer.alloc(0);
      this._transform(c, 'binary', (err) => {
        if (err) done(err);
        else this.finishCarry(done);
      });
      return;
    }
    this.finishCarry(done);
  }

  private finishCarry(done: TransformCallback): void {
    if (this.carry.length > 0) this.emit('warning', new Error('the stream ended in the middle of a 16-bit sample; its last byte was ignored'));
    done();
  }
}
