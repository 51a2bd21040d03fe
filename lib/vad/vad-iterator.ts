import { SAMPLE_RATE } from '../audio/pcm.js';
import { DEFAULTS } from '../defaults.js';
import { VAD_WINDOW } from './silero-vad.js';

/** Tuning of the voice activity control (Silero's iterator). */
export interface VadIteratorOptions {
  /** Speech starts at this probability. Default 0.5. */
  readonly threshold?: number;
  /** Speech ends after `minSilenceMs` below `threshold - 0.15` (0.35 by default). Default 500. */
  readonly minSilenceMs?: number;
  /** Padding added before a start and after an end. Default 100. */
  readonly speechPadMs?: number;
}

/** A speech boundary, in samples from the start of the stream. */
export type VadEvent = { readonly start: number } | { readonly end: number };

/**
 * Silero's `VADIterator` decision rule over a stream of window probabilities: speech starts at the
 * first window ≥ threshold (position padded back), ends once the probability stayed below
 * threshold − 0.15 for `minSilenceMs` (position padded forward from where the silence began).
 */
export class VadIterator {
  readonly threshold: number;
  private readonly minSilence: number;
  private readonly pad: number;
  private position = 0;
  private triggered = false;
  private silenceFrom = 0;

  constructor(opts: VadIteratorOptions = {}) {
    this.threshold = opts.threshold ?? DEFAULTS.vadThreshold;
    this.minSilence = ((opts.minSilenceMs ?? DEFAULTS.vadMinSilenceMs) * SAMPLE_RATE) / 1000;
    this.pad = ((opts.speechPadMs ?? DEFAULTS.vadSpeechPadMs) * SAMPLE_RATE) / 1000;
  }

  /** Whether the stream is inside speech. */
  get speaking(): boolean {
    return this.triggered;
  }

  /** The next window's speech probability → a boundary, or null. */
  step(prob: number): VadEvent | null {
    this.position += VAD_WINDOW;
    if (prob >= this.threshold && this.silenceFrom) this.silenceFrom = 0;
    if (prob >= this.threshold && !this.triggered) {
      this.triggered = true;
      return { start: Math.max(0, this.position - this.pad - VAD_WINDOW) };
    }
    if (prob < this.threshold - 0.15 && this.triggered) {
      if (!this.silenceFrom) this.silenceFrom = this.position;
      if (this.position - this.silenceFrom < this.minSilence) return null;
      const end = this.silenceFrom + this.pad - VAD_WINDOW;
      this.silenceFrom = 0;
      this.triggered = false;
      return { end };
    }
    return null;
  }
}
