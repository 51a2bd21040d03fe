import { Transform, type TransformCallback } from 'node:stream';
import { SAMPLE_RATE } from '../audio/mel.js';
import { DEFAULTS } from '../defaults.js';
import { InvalidOptionError } from '../errors.js';
import { VAD_WINDOW, type SileroVad, type VadStream } from '../vad/silero-vad.js';
import { VadIterator, type VadIteratorOptions } from '../vad/vad-iterator.js';
import type { AudioChunk } from './chunk-buffer.js';

/** Options of the {@link VoiceActivityGate} stage. */
export interface VoiceActivityGateOptions extends VadIteratorOptions {
  /** The detector, loaded once with `SileroVad.load()` and shared. */
  readonly vad: SileroVad;
  /** Seconds of speech per policy iteration. Default 1.2. */
  readonly minChunkSize?: number;
  /** Audio before a detected start that is decoded with it. Default 0.5 s (SimulStreaming's VAC). */
  readonly startPadding?: number;
  /** Non-speech audio kept for a start's padding. Default 1 s. */
  readonly keepSilence?: number;
}

/**
 * Voice activity control, in place of {@link ChunkBuffer}: samples → chunks of speech only.
 * Silero VAD runs on every 32 ms window. Inside speech, chunks of exactly `minChunkSize` go to the
 * policy; the end of speech (500 ms below threshold) sends the rest with `utteranceEnd`, so the
 * decoder runs the final pass and starts the next utterance with a fresh context. Silence is never
 * decoded: its length travels as the next chunk's `gap`, so word times stay in the stream's clock.
 */
export class VoiceActivityGate extends Transform {
  private readonly vad: VadStream;
  private readonly detector: VadIterator;
  private readonly chunkSamples: number;
  private readonly startPadding: number;
  private readonly keep: number;
  /** Samples not yet run through the VAD (less than a window). */
  private carry = new Float32Array(0);
  /** Stream position of the VAD (samples). */
  private position = 0;
  /** Recent non-speech audio, starting at stream sample `silenceStart`. */
  private silence: Float32Array = new Float32Array(0);
  private silenceStart = 0;
  /** Speech not yet sent. */
  private speech: Float32Array<ArrayBufferLike>[] = [];
  private speechLength = 0;
  /** Stream position up to which audio has been sent or skipped. */
  private accounted = 0;
  /** Silence skipped before the next chunk of speech. */
  private pendingGap = 0;

  constructor(opts: VoiceActivityGateOptions) {
    super({ objectMode: true });
    const size = opts.minChunkSize ?? DEFAULTS.minChunkSize;
    if (!(size > 0)) throw new InvalidOptionError('--min-chunk-size', 'must be a positive number of seconds');
    this.vad = opts.vad.createStream();
    this.detector = new VadIterator(opts);
    this.chunkSamples = Math.max(1, Math.round(size * SAMPLE_RATE));
    this.startPadding = Math.round((opts.startPadding ?? DEFAULTS.vadStartPadding) * SAMPLE_RATE);
    this.keep = Math.round((opts.keepSilence ?? 1) * SAMPLE_RATE);
  }

  /** @internal */
  override _transform(samples: Float32Array, _enc: BufferEncoding, done: TransformCallback): void {
    this.feed(samples).then(() => done(), done);
  }

  /** @internal */
  override _flush(done: TransformCallback): void {
    if (this.carry.length > 0) this.append(this.carry);
    this.position += this.carry.length;
    this.carry = new Float32Array(0);
    if (this.detector.speaking) {
      this.sendSpeech(this.takeSpeech(this.speechLength), { last: true });
    } else {
      this.push({ samples: new Float32Array(0), last: true, gap: this.position - this.accounted } satisfies AudioChunk);
      this.accounted = this.position;
    }
    done();
  }

  private async feed(samples: Float32Array): Promise<void> {
    let data = samples;
    if (this.carry.length > 0) {
      data = new Float32Array(this.carry.length + samples.length);
      data.set(this.carry);
      data.set(samples, this.carry.length);
    }
    let i = 0;
    for (; i + VAD_WINDOW <= data.length; i += VAD_WINDOW) {
      const window = data.subarray(i, i + VAD_WINDOW);
      const event = this.detector.step(await this.vad.probability(window));
      const wasSpeaking = event && 'end' in event ? true : this.detector.speaking && !(event && 'start' in event);
      this.append(window, wasSpeaking);
      this.position += VAD_WINDOW;
      if (event && 'start' in event) this.startSpeech(event.start);
      else if (event && 'end' in event) this.endSpeech(event.end);
    }
    this.carry = data.slice(i);
  }

  /** Adds audio to the speech (sending full chunks) or to the kept silence. */
  private append(window: Float32Array, speaking = this.detector.speaking): void {
    if (!speaking) {
      const merged = new Float32Array(this.silence.length + window.length);
      merged.set(this.silence);
      merged.set(window, this.silence.length);
      const drop = Math.max(0, merged.length - this.keep);
      this.silence = merged.slice(drop);
      this.silenceStart += drop;
      return;
    }
    this.speech.push(window.slice());
    this.speechLength += window.length;
    while (this.speechLength >= this.chunkSamples) this.sendSpeech(this.takeSpeech(this.chunkSamples), { last: false });
  }

  private startSpeech(at: number): void {
    const begin = Math.max(this.silenceStart, at - this.startPadding, this.accounted);
    const audio = this.silence.subarray(begin - this.silenceStart);
    this.silence = new Float32Array(0);
    this.silenceStart = this.position;
    this.pendingGap = begin - this.accounted;
    this.accounted = begin;
    this.speech = [];
    this.speechLength = 0;
    if (audio.length > 0) this.append(audio, true);
  }

  private endSpeech(at: number): void {
    // speech ends at `at`; what was buffered after it is silence again
    const keepAsSpeech = Math.max(0, Math.min(this.speechLength, at - this.accounted));
    const tail = this.takeSpeech(keepAsSpeech);
    const rest = this.takeSpeech(this.speechLength);
    this.sendSpeech(tail, { utteranceEnd: true });
    this.silence = rest;
    this.silenceStart = this.accounted;
  }

  private sendSpeech(samples: Float32Array, flags: { last?: boolean; utteranceEnd?: boolean }): void {
    const chunk: AudioChunk = {
      samples,
      last: flags.last ?? false,
      ...(flags.utteranceEnd ? { utteranceEnd: true } : {}),
      ...(this.pendingGap > 0 ? { gap: this.pendingGap } : {}),
    };
    this.pendingGap = 0;
    this.accounted += samples.length;
    this.push(chunk);
  }

  /** The first `n` samples of the pending speech. */
  private takeSpeech(n: number): Float32Array {
    const out = new Float32Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.speech[0]!;
      const take = Math.min(head.length, n - filled);
      out.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.speech.shift();
      else this.speech[0] = head.subarray(take);
    }
    this.speechLength -= n;
    return out;
  }
}
