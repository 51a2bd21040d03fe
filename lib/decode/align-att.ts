import { N_FRAMES, fittedWindowFrames } from '../audio/mel.js';
import { SAMPLE_RATE } from '../audio/pcm.js';
import { StreamingLogMel } from '../audio/streaming-mel.js';
import { SimulstreamError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import type { EncodedAudio } from '../model/whisper-model.js';
import { AttentionTracker } from '../policy/attention.js';
import { AudioBuffer, FRAMES_PER_SECOND } from '../policy/audio-buffer.js';
import { ContextBuffer } from '../policy/context.js';
import { initialPolicyState, policyStep, type PolicyState, type PolicyStepOptions, type PolicyVerdict } from '../policy/policy-step.js';
import { timedWords, withoutLastWord, type TimedWord } from '../policy/words.js';
import { resolveAlignAttOptions, type AlignAttOptions, type ResolvedAlignAttOptions } from './align-att-options.js';
import { detectLanguage } from './language.js';
import { alignAttSuppressTokens, blankTokens } from './logit-filters.js';
import { searchLoop, type SearchStep } from './search.js';
import { tokenDecoder } from './token-decoder.js';

export type { AlignAttOptions, EncoderWindow, ResolvedAlignAttOptions } from './align-att-options.js';
export type { TimedWord } from '../policy/words.js';

/**
 * Why an iteration ended: a policy verdict, `context` (the 448-token window is full), `waiting`
 * (the buffer is shorter than `audioMinLen`) or `empty` (no audio).
 */
export type StopReason = Exclude<PolicyVerdict, 'continue'> | 'context' | 'waiting' | 'empty';

/** What one iteration of the policy committed. */
export interface AlignAttUpdate {
  /** The tokens committed (SimulStreaming's update `tokens`). */
  readonly tokens: readonly number[];
  /** The same, grouped into timed words. */
  readonly words: readonly TimedWord[];
  /** The UTF-8 bytes of `tokens`. */
  readonly bytes: Uint8Array;
  /** From a final pass (the end of the stream, or of an utterance). */
  readonly final: boolean;
  /** Seconds of audio received by the stream when this iteration ran. */
  readonly audioEnd: number;
  /** Milliseconds the iteration took (by the session's clock), waiting for the model excluded. */
  readonly computeMs: number;
  /** Milliseconds the iteration waited for the model (the scheduler shares it between streams). */
  readonly queueMs: number;
  /** Why the iteration ended. */
  readonly stop: StopReason;
  /** The language decoded (detected once with `auto`). */
  readonly language: string;
}

/** The tokens an iteration committed and each one's most-attended frame. */
interface Decoded {
  readonly tokens: readonly number[];
  readonly frames: readonly number[];
  readonly stop: StopReason;
}

/**
 * One stream's AlignAtt state (SimulStreaming's `PaddedAlignAttWhisper` + `SimulWhisperOnline`):
 * the audio buffer, the tokens committed for it, the scrolling context. It drives the model and the
 * search; every decision is `policyStep`'s (`lib/policy/policy-step.ts`). It shares the model's
 * sessions with every other stream; its own state is bounded by the 30 s buffer and the 448-token
 * context.
 *
 * An iteration: insert the chunk (chunks leaving the buffer move their text into the context),
 * encode the buffer's 30 s window, decode from `[context] sot lang task notimestamps` + the
 * committed tokens with OpenAI's greedy or beam decoder, and after each step ask the policy about
 * the first row's newest token, given that row's attention.
 */
export class AlignAttSession {
  /** The options, defaults filled in and checked against the model. */
  readonly options: ResolvedAlignAttOptions;
  private readonly buffer: AudioBuffer;
  private context!: ContextBuffer;
  private lastAttend: number;
  private received = 0;
  private language: string | null;
  private readonly suppressed: number[];
  private readonly blank: number[];
  private readonly scheduler: AlignAttOptions['scheduler'];
  private readonly now: () => number;
  /** Iterations stopped by the repetition guard (a decoding loop was cut). */
  repetitionsCut = 0;

  constructor(
    /** The model (shared with other streams). */
    readonly lm: LoadedModel,
    opts: AlignAttOptions = {},
  ) {
    this.options = resolveAlignAttOptions(lm, opts);
    const tok = lm.tokenizer;
    this.scheduler = opts.scheduler;
    this.now = opts.clock ?? (() => performance.now());
    this.language = !tok.multilingual ? 'en' : this.options.language === 'auto' ? null : this.options.language;
    this.buffer = new AudioBuffer(new StreamingLogMel(lm.createMel()), this.options.audioMaxLen);
    this.lastAttend = -this.options.rewindThreshold;
    this.suppressed = alignAttSuppressTokens(tok, lm.dims.n_vocab, !this.options.suppressTimestamps);
    this.blank = blankTokens(tok);
    this.resetContext();
  }

  /** Seconds of audio the stream has received. */
  get audioReceived(): number {
    return this.received / SAMPLE_RATE;
  }

  /** Seconds of audio in the buffer. */
  get bufferSeconds(): number {
    return this.buffer.seconds;
  }

  /** The context text (static prompt, scrolling prompt and text of audio that left the buffer). */
  get contextText(): string {
    return this.context.text;
  }

  /** Appends a chunk of audio and runs one iteration of the policy. */
  async process(chunk: Float32Array): Promise<AlignAttUpdate> {
    return this.iterate(chunk, false);
  }

  /**
   * The final pass at end of stream: the remaining audio (possibly none), a frame threshold of 4,
   * nothing held back. The session is then reset for a new utterance, its stream clock kept.
   */
  async finish(remainder: Float32Array = new Float32Array(0)): Promise<AlignAttUpdate> {
    const u = await this.iterate(remainder, true);
    this.reset();
    return u;
  }

  /**
   * Audio the stream received that the policy will not decode (silence under voice activity
   * control, between utterances): the stream's clock and the next words' times move past it.
   */
  skip(samples: number): void {
    if (this.buffer.length > 0) throw new SimulstreamError('ERR_INVALID_STATE', 'skip() is only allowed between utterances (the buffer is not empty)');
    this.received += samples;
    this.buffer.offset = this.received / SAMPLE_RATE;
  }

  /** Forgets the buffer, the committed tokens and the context (SimulStreaming's `refresh_segment`). */
  reset(): void {
    this.buffer.clear(this.received / SAMPLE_RATE);
    this.lastAttend = -this.options.rewindThreshold;
    this.resetContext();
  }

  private resetContext(): void {
    this.context = new ContextBuffer(this.lm.tokenizer, this.language ?? 'en', this.options.staticInitPrompt, this.options.initPrompt);
  }

  private initialTokens(language: string): number[] {
    const tok = this.lm.tokenizer;
    const s = tok.special;
    if (!tok.multilingual) return [s.sot, s.noTimestamps];
    return [s.sot, tok.languageToken(language), this.options.task === 'translate' ? s.translate : s.transcribe, s.noTimestamps];
  }

  private iterate(chunk: Float32Array, isLast: boolean): Promise<AlignAttUpdate> {
    const queued = this.now();
    const run = (): Promise<AlignAttUpdate> => this.iterateNow(chunk, isLast, this.now() - queued);
    return this.scheduler ? this.scheduler.run(run) : run();
  }

  private async iterateNow(chunk: Float32Array, isLast: boolean, queueMs: number): Promise<AlignAttUpdate> {
    const started = this.now();
    this.received += chunk.length;
    this.buffer.insert(chunk, (seconds, tokens) => {
      this.lastAttend -= Math.trunc(FRAMES_PER_SECOND * seconds);
      this.context.append(tokens);
    });
    const done = (d: Decoded): AlignAttUpdate => this.update(d, isLast, started, queueMs);
    if (this.buffer.length === 0) return done({ tokens: [], frames: [], stop: 'empty' });
    if (this.buffer.seconds < this.options.audioMinLen) return done({ tokens: [], frames: [], stop: 'waiting' });

    const { model, tokenizer: tok } = this.lm;
    const window = this.options.encoderWindow === 'auto' ? fittedWindowFrames(this.buffer.length) : N_FRAMES;
    const audio = await model.encode(this.buffer.mel.window(window));
    if (this.language === null) this.language = (await detectLanguage(model, audio, tok)).language;
    const initial = this.initialTokens(this.language);
    const committed = this.buffer.committed();
    this.context.trim(initial.length + committed.length, this.options.maxContextTokens, model.dims.n_text_ctx - 20);
    const prefix = [...this.context.tokens(), ...initial, ...committed];

    const d = await this.decode(audio, prefix, committed, isLast);
    let { tokens, frames } = d;
    if (this.options.neverFire && !isLast && tokens.length > 0) {
      const keep = withoutLastWord(tok, tokens, this.language);
      tokens = tokens.slice(0, keep);
      frames = frames.slice(0, keep);
    }
    this.buffer.commit(tokens);
    return done({ tokens, frames, stop: d.stop });
  }

  /**
   * The decoding loop of one iteration. After each step the first row's attention (SimulStreaming
   * reads row 0 of the rows fed, for greedy and beam alike) is tracked, and the policy decides on
   * the first row's newest token.
   */
  private async decode(audio: EncodedAudio, prefix: readonly number[], committed: readonly number[], isLast: boolean): Promise<Decoded> {
    const { model, tokenizer: tok } = this.lm;
    const o = this.options;
    const eot = tok.special.eot;
    const content = this.buffer.contentFrames;
    const step: PolicyStepOptions = {
      contentFrames: content,
      threshold: isLast ? o.finalFrameThreshold : o.frameThreshold,
      rewindThreshold: o.rewindThreshold,
      isLast,
      eot,
      repetitionGuard: o.repetitionGuard,
      cap: o.maxTokensPerSecond > 0 ? Math.max(8, Math.ceil(o.maxTokensPerSecond * this.buffer.seconds) - committed.length) : Infinity,
    };
    const decoder = tokenDecoder(o.beams, eot);
    const heads = this.lm.alignmentHeads.length;
    const tracker = new AttentionTracker(heads, audio.frames);
    let state: PolicyState = initialPolicyState(this.lastAttend, committed, prefix[prefix.length - 1]!);
    let verdict = 'continue' as PolicyVerdict;

    const onStep = ({ out, fed, outRow, step: s }: SearchStep): boolean => {
      tracker.add(out.attention, fed, outRow(0) * heads * fed * tracker.frames);
      const top = s.rows[0]!;
      const token = s.completed ? eot : top[top.length - 1]!;
      ({ verdict, state } = policyStep({ ...state, tokens: top.slice(0, -1) }, tracker.newestRow(content), token, step));
      return verdict !== 'continue';
    };

    const end = await searchLoop(model, audio, prefix, decoder, {
      suppressTokens: this.suppressed,
      suppressAtBegin: this.blank,
      eot,
      maxSampled: Infinity,
      maxTotal: model.dims.n_text_ctx,
      onStep,
    });
    this.lastAttend = state.lastAttend;
    if (verdict === 'repetition') this.repetitionsCut++;
    if (verdict === 'continue') return { tokens: [...end.rows[0]!], frames: state.frames, stop: 'context' };
    return { tokens: state.tokens, frames: state.frames, stop: verdict };
  }

  private update(d: Decoded, isLast: boolean, started: number, queueMs: number): AlignAttUpdate {
    const tok = this.lm.tokenizer;
    const language = this.language ?? 'en';
    return {
      tokens: d.tokens,
      words: timedWords(tok, d.tokens, d.frames, language, this.buffer.offset),
      bytes: tok.decodeBytes(d.tokens),
      final: isLast,
      audioEnd: this.received / SAMPLE_RATE,
      computeMs: this.now() - started,
      queueMs,
      stop: d.stop,
      language,
    };
  }
}
