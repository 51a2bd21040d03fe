import { PassThrough, type Transform } from 'node:stream';
import { Upsample2x } from '../bridge/upsample.js';
import { canResample, RationalResampler } from './rational-resampler.js';
import { SAMPLE_RATE } from './pcm.js';

/** Lowest and highest rate a call's audio may have (AudioSocket goes up to 192 kHz). */
const MIN_RATE = 8000;
const MAX_RATE = 192000;

/** Whether a call's audio at `rate` Hz can be brought to the model's 16 kHz. */
export function isSupportedRate(rate: number): boolean {
  return Number.isInteger(rate) && rate >= MIN_RATE && rate <= MAX_RATE && canResample(rate, SAMPLE_RATE);
}

/**
 * s16le mono at `rate` → s16le 16 kHz mono, for the transcriber: as is at 16 kHz, the bridge's
 * {@link Upsample2x} at the telephone's 8 kHz, a {@link RationalResampler} at any other rate.
 */
export function toModelRate(rate: number): Transform {
  if (rate === SAMPLE_RATE) return new PassThrough();
  if (rate === SAMPLE_RATE / 2) return new Upsample2x();
  return new RationalResampler(rate, SAMPLE_RATE);
}
