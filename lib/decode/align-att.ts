import { N_FRAMES, SAMPLE_RATE, fittedWindowFrames } from '../audio/mel.js';
import { StreamingLogMel } from '../audio/streaming-mel.js';
import type { LoadedModel } from '../model/load-model.js';
import type { EncodedAudio } from '../model/whisper-model.js';
import { alignAttRule } from '../policy/align-att-rule.js';
import { AttentionTracker } from '../policy/attention.js';
import { AudioBuffer, FRAMES_PER_SECOND } from '../policy/audio-buffer.js';
import { ContextBuffer } from '../policy/context.js';
import { repetitionStart } from '../policy/repetition.js';
import { splitToWordTokens } from '../policy/words.js';
import { resolveAlignAttOptions, type AlignAttOptions, type ResolvedAlignAttOptions } from './align-att-options.js';
import { detectLanguage } from './language.js';
import { searchLoop, type SearchStep } from './search.js';
import { tokenDecoder } from './token-decoder.js';

export type { AlignAttOptions, EncoderWindow, ResolvedAlignAttOptions } from './align-att-options.js';

/** A committed word with its times in the stream (seconds), from its tokens' most-attended frames. */
export interface TimedWord {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly tokens: readonly number[];
  readonly bytes: Uint8Array;
}

export type StopReason = 'eot' | 'threshold' | 'rewind' | 'context' | 'cap' | 'repetition' | 'waiting' | 'empty';

/** What one iteration of the policy committed. */
export interface AlignAttUpdate {
  readonly tokens: readonly number[];
  readonly words: readonly TimedWord[];
  /** The UTF-8 bytes of `tokens`. */
  readonly bytes: Uint8Array;
  readonly final: boolean;
  /** Seconds of audio received by the stream when this iteration ran. */
  readonly audioEnd: number;
  /** Milliseconds the iteration took (by the session's clock). */
  readonly computeMs: number;
  /**
   * When the update is out, in the audio's clock (seconds), as if the audio arrived in real time:
   * the chunk's arrival (or the previous iteration's end, if later) plus the compute.
   */
  readonly emitted: number;
  readonly stop: StopReason;
  /** The language decoded (detected once with `auto`). */
  readonly language: string;
}

const FRAME_SECONDS = 1 / FRAMES_PER_SECOND;

/** What the decoding loop of one iteration committed: tokens and each one's most-attended frame. */
interface Decoded {
  readonly tokens: number[];
  readonly frames: number[];
  readonly stop: StopReason;
}

/**
 * One stream's AlignAtt state (SimulStreaming's `PaddedAlignAttWhisper` + `SimulWhisperOnline`):
 * the audio buffer, the tokens committed for it, the scrolling context. It shares the model's
 * sessions with every other stream; its own state is bounded by the 30 s buffer and the 448-token
 * context.
 *
 * An iteration: insert the chunk (chunks leaving the buffer move their text into the context),
 * encode the buffer's 30 s window, decode from `[context] sot lang task notimestamps` + the
 * committed tokens with OpenAI's greedy or beam decoder, and after each step apply the AlignAtt
 * rule ({@link alignAttRule}) to the first row's newest token.
 */
export class AlignAttSession {
  readonly options: ResolvedAlignAttOptions;
  private readonly buffer: AudioBuffer;
  private context!: ContextBuffer;
  private lastAttend: number;
  private received = 0;
  private language: string | null;
  private readonly alwaysSuppressed: number[];
  private readonly blank: number[];
  private readonly scheduler: AlignAttOptions['scheduler'];
  private readonly now: () => number;
  private clock = 0;
  /** Iterations stopped by the repetition guard (a decoding loop was cut). */
  repetitionsCut = 0;

  constructor(
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
    const s = tok.special;
    const always = new Set<number>([s.transcribe, s.translate, s.sot, s.sotPrev, s.sotLm, s.noTimestamps, s.noSpeech]);
    if (tok.multilingual) for (const t of tok.languageTokens) always.add(t);
    if (this.options.suppressTimestamps) for (let t = s.timestampBegin; t < lm.dims.n_vocab; t++) always.add(t);
    this.alwaysSuppressed = [...always].sort((a, b) => a - b);
    this.blank = [...tok.encode(' '), s.eot];
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
    if (this.buffer.length > 0) throw new RangeError('skip() is only allowed between utterances (the buffer is not empty)');
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
    return this.scheduler ? this.scheduler.run(() => this.iterateNow(chunk, isLast)) : this.iterateNow(chunk, isLast);
  }

  private async iterateNow(chunk: Float32Array, isLast: boolean): Promise<AlignAttUpdate> {
    const started = this.now();
    this.received += chunk.length;
    this.buffer.insert(chunk, (seconds, tokens) => {
      this.lastAttend -= Math.trunc(FRAMES_PER_SECOND * seconds);
      this.context.append(tokens);
    });
    const done = (d: Decoded): AlignAttUpdate => this.update(d, isLast, started);
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
      const words = splitToWordTokens(tok, tokens, this.language);
      const keep = words.length > 1 ? words.slice(0, -1).reduce((n, w) => n + w.tokens.length, 0) : 0;
      tokens = tokens.slice(0, keep);
      frames = frames.slice(0, keep);
    }
    this.buffer.commit(tokens);
    return done({ tokens, frames, stop: d.stop });
  }

  /**
   * The decoding loop of one iteration. After each step the first row's attention (SimulStreaming
   * reads row 0 of the rows fed, for greedy and beam alike) gives the newest token's most-attended
   * frame, and the AlignAtt rule decides on the first row's newest token.
   */
  private async decode(audio: EncodedAudio, prefix: readonly number[], committed: readonly number[], isLast: boolean): Promise<Decoded> {
    const { model, tokenizer: tok } = this.lm;
    const o = this.options;
    const eot = tok.special.eot;
    const heads = this.lm.alignmentHeads.length;
    const content = this.buffer.contentFrames;
    const threshold = isLast ? o.finalFrameThreshold : o.frameThreshold;
    const cap = o.maxTokensPerSecond > 0 ? Math.max(8, Math.ceil(o.maxTokensPerSecond * this.buffer.seconds) - committed.length) : Infinity;
    const decoder = tokenDecoder(o.beams, eot);
    const trackers = Array.from({ length: decoder.width }, () => new AttentionTracker(heads, audio.frames));
    const frames: number[] = [];
    let result: Decoded | undefined;

    const onStep = ({ out, fed, outRow, step }: SearchStep): boolean => {
      const rowAttn = heads * fed * trackers[0]!.frames;
      trackers.forEach((t, r) => t.add(out.attention, fed, outRow(r) * rowAttn));
      const frame = trackers[0]!.mostAttendedFrame(content);
      frames.push(frame);
      const top = step.rows[0]!;
      if (step.completed) {
        result = { tokens: top.slice(0, -1), frames, stop: 'eot' };
        return true;
      }
      const before = top.length > 1 ? top[top.length - 2]! : prefix[prefix.length - 1]!;
      const rule = alignAttRule({
        frame,
        contentFrames: content,
        threshold,
        lastAttend: this.lastAttend,
        rewindThreshold: o.rewindThreshold,
        afterSpecial: before >= eot,
        isLast,
      });
      this.lastAttend = rule.lastAttend;
      if (rule.verdict === 'rewind') result = { tokens: [], frames: [], stop: 'rewind' };
      else if (rule.verdict === 'stop') result = { tokens: top.slice(0, -1), frames, stop: 'threshold' };
      else {
        const repeated = o.repetitionGuard ? repetitionStart([...committed, ...top]) : -1;
        if (repeated >= 0) {
          this.repetitionsCut++;
          result = { tokens: top.slice(0, Math.max(0, repeated - committed.length)), frames, stop: 'repetition' };
        } else if (top.length >= cap) result = { tokens: [...top], frames, stop: 'cap' };
      }
      return result !== undefined;
    };

    const end = await searchLoop(model, audio, prefix, decoder, {
      suppressTokens: this.alwaysSuppressed,
      suppressAtBegin: this.blank,
      eot,
      maxSampled: Infinity,
      maxTotal: model.dims.n_text_ctx,
      onStep,
    });
    return result ?? { tokens: [...end.rows[0]!], frames, stop: 'context' };
  }

  private update(d: Decoded, isLast: boolean, started: number): AlignAttUpdate {
    const tok = this.lm.tokenizer;
    const language = this.language ?? 'en';
    const words: TimedWord[] = [];
    let i = 0;
    for (const w of splitToWordTokens(tok, d.tokens, language)) {
      const b = d.frames[i]!;
      i += w.tokens.length;
      const e = d.frames[i - 1]!;
      words.push({
        start: b * FRAME_SECONDS + this.buffer.offset,
        end: e * FRAME_SECONDS + this.buffer.offset,
        text: w.text,
        tokens: w.tokens,
        bytes: tok.decodeBytes(w.tokens),
      });
    }
    const audioEnd = this.received / SAMPLE_RATE;
    const computeMs = this.now() - started;
    this.clock = Math.max(this.clock, audioEnd) + computeMs / 1000;
    return { tokens: d.tokens, words, bytes: tok.decodeBytes(d.tokens), final: isLast, audioEnd, computeMs, emitted: this.clock, stop: d.stop, language };
  }
}
