import { SAMPLE_RATE } from '../audio/mel.js';
import { StreamingLogMel } from '../audio/streaming-mel.js';
import { InvalidOptionError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import type { EncodedAudio, KvCache } from '../model/whisper-model.js';
import { AttentionTracker } from '../policy/attention.js';
import { ContextBuffer } from '../policy/context.js';
import { repetitionStart } from '../policy/repetition.js';
import { splitToWordTokens } from '../policy/words.js';
import { detectLanguage } from './language.js';
import { logSoftmax, suppress } from './logit-filters.js';

/** The AlignAtt policy's settings; names follow SimulStreaming's flags. */
export interface AlignAttOptions {
  /** Language code, or `auto` (detected once, from the first encoder pass). Default `en`. */
  readonly language?: string;
  readonly task?: 'transcribe' | 'translate';
  /** Beam size; 1 is greedy. */
  readonly beams?: number;
  /** Stop when the newest token attends within this many frames (20 ms) of the audio's end. Default 25. */
  readonly frameThreshold?: number;
  /** The threshold of the final pass at end of stream. Default 4. */
  readonly finalFrameThreshold?: number;
  /** A jump back of more than this many frames discards the iteration. Default 200. */
  readonly rewindThreshold?: number;
  /** Seconds of audio kept in the buffer. Default 30. */
  readonly audioMaxLen?: number;
  /** Nothing is decoded while the buffer is shorter (seconds). Default 0. */
  readonly audioMinLen?: number;
  /** Hold back the last word of every non-final iteration. Default false. */
  readonly neverFire?: boolean;
  readonly initPrompt?: string;
  readonly staticInitPrompt?: string;
  /** Most context tokens (default: the text context, 448). */
  readonly maxContextTokens?: number;
  /** Repetition guard: most committed tokens per second of buffered audio. Default 22.5. */
  readonly maxTokensPerSecond?: number;
  /** Shares the model with other streams (one iteration is one unit of work). */
  readonly scheduler?: { run<T>(work: () => Promise<T>): Promise<T> };
}

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
  /** Wall-clock milliseconds the iteration took. */
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

const FRAME_SECONDS = 0.02;
const FRAMES_PER_SECOND = 50;

interface Hypothesis {
  readonly tokens: number[];
  readonly frames: number[];
  readonly tracker: AttentionTracker;
  readonly score: number;
  /** Row of the decoder batch this hypothesis continues from. */
  readonly row: number;
}

/**
 * One stream's AlignAtt state (SimulStreaming's `PaddedAlignAttWhisper` + `SimulWhisperOnline`):
 * the audio buffer, the tokens committed for it, the scrolling context. It shares the model's
 * sessions with every other stream; its own state is bounded by the 30 s buffer and the 448-token
 * context.
 */
export class AlignAttSession {
  readonly options: Required<Omit<AlignAttOptions, 'initPrompt' | 'staticInitPrompt' | 'maxContextTokens' | 'scheduler'>> & {
    readonly maxContextTokens: number;
  };
  private readonly mel: StreamingLogMel;
  private segments: number[] = [];
  private committed: number[][] = [];
  private context!: ContextBuffer;
  private lastAttend: number;
  private offset = 0;
  private received = 0;
  private language: string | null;
  private readonly alwaysSuppressed: number[];
  private readonly initPrompt: string;
  private readonly scheduler: AlignAttOptions['scheduler'];
  private readonly staticPrompt: string;
  private clock = 0;
  /** Iterations stopped by the repetition guard (a decoding loop was cut). */
  repetitionsCut = 0;

  constructor(
    readonly lm: LoadedModel,
    opts: AlignAttOptions = {},
  ) {
    const tok = lm.tokenizer;
    const language = opts.language ?? 'en';
    if (language !== 'auto' && tok.multilingual) tok.languageToken(language); // throws ERR_UNKNOWN_LANGUAGE
    if (!tok.multilingual && language !== 'en' && language !== 'auto') {
      throw new InvalidOptionError('--language', `an English-only model cannot transcribe "${language}"`);
    }
    if (!tok.multilingual && opts.task === 'translate') {
      throw new InvalidOptionError('--task', 'English-only models cannot translate');
    }
    this.options = {
      language,
      task: opts.task ?? 'transcribe',
      beams: opts.beams ?? 1,
      frameThreshold: opts.frameThreshold ?? 25,
      finalFrameThreshold: opts.finalFrameThreshold ?? 4,
      rewindThreshold: opts.rewindThreshold ?? 200,
      audioMaxLen: opts.audioMaxLen ?? 30,
      audioMinLen: opts.audioMinLen ?? 0,
      neverFire: opts.neverFire ?? false,
      maxContextTokens: opts.maxContextTokens ?? lm.dims.n_text_ctx,
      maxTokensPerSecond: opts.maxTokensPerSecond ?? 22.5,
    };
    if (this.options.audioMaxLen > 30) throw new InvalidOptionError('--audio_max_len', 'must be at most 30 s (Whisper\'s window)');
    if (this.options.audioMinLen > this.options.audioMaxLen) {
      throw new InvalidOptionError('--audio_min_len', 'audio_min_len must be smaller than audio_max_len');
    }
    this.scheduler = opts.scheduler;
    this.initPrompt = opts.initPrompt ?? '';
    this.staticPrompt = opts.staticInitPrompt ?? '';
    this.language = !tok.multilingual ? 'en' : language === 'auto' ? null : language;
    this.mel = new StreamingLogMel(lm.createMel());
    this.lastAttend = -this.options.rewindThreshold;
    const s = tok.special;
    const always = new Set<number>([s.transcribe, s.translate, s.sot, s.sotPrev, s.sotLm, s.noTimestamps, s.noSpeech]);
    if (tok.multilingual) for (const t of tok.languageTokens) always.add(t);
    // improvement over SimulStreaming: timestamp tokens are banned too (it can loop on <|4.98|>)
    for (let t = s.timestampBegin; t < lm.dims.n_vocab; t++) always.add(t);
    this.alwaysSuppressed = [...always].sort((a, b) => a - b);
    this.resetContext();
  }

  /** Seconds of audio the stream has received. */
  get audioReceived(): number {
    return this.received / SAMPLE_RATE;
  }

  /** Seconds of audio in the buffer. */
  get bufferSeconds(): number {
    return this.mel.length / SAMPLE_RATE;
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
    if (this.mel.length > 0) throw new RangeError('skip() is only allowed between utterances (the buffer is not empty)');
    this.received += samples;
    this.offset = this.received / SAMPLE_RATE;
  }

  /** Forgets the buffer, the committed tokens and the context (SimulStreaming's `refresh_segment`). */
  reset(): void {
    this.offset = this.received / SAMPLE_RATE;
    this.segments = [];
    this.committed = [];
    this.mel.clear();
    this.lastAttend = -this.options.rewindThreshold;
    this.resetContext();
  }

  private resetContext(): void {
    this.context = new ContextBuffer(this.lm.tokenizer, this.language ?? 'en', this.staticPrompt, this.initPrompt);
  }

  private insert(chunk: Float32Array, isLast: boolean): void {
    if (chunk.length > 0 || !isLast || this.segments.length === 0) {
      this.received += chunk.length;
      this.mel.append(chunk);
      this.segments.push(chunk.length);
      this.committed.push([]);
    }
    const max = this.options.audioMaxLen * SAMPLE_RATE;
    let total = this.mel.length;
    while (total > max && this.segments.length > 1) {
      const removed = this.segments.shift()!;
      const removedSeconds = removed / SAMPLE_RATE;
      total -= removed;
      this.mel.dropFront(removed);
      this.offset += removedSeconds;
      this.lastAttend -= Math.trunc(FRAMES_PER_SECOND * removedSeconds);
      this.context.append(this.committed.shift()!);
    }
    if (total > max) {
      // a single chunk longer than the buffer: keep its last audio_max_len seconds
      const cut = total - max;
      this.mel.dropFront(cut);
      this.segments[0]! -= cut;
      this.offset += cut / SAMPLE_RATE;
      this.lastAttend -= Math.trunc((FRAMES_PER_SECOND * cut) / SAMPLE_RATE);
    }
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
    const started = performance.now();
    this.insert(chunk, isLast);
    const done = (tokens: number[], frames: number[], stop: StopReason): AlignAttUpdate =>
      this.update(tokens, frames, stop, isLast, started);
    if (this.mel.length === 0) return done([], [], 'empty');
    if (this.mel.length / SAMPLE_RATE < this.options.audioMinLen) return done([], [], 'waiting');

    const { model, tokenizer: tok } = this.lm;
    const nCtx = this.lm.dims.n_text_ctx;
    const committed = this.committed.flat();
    const probeInitial = this.initialTokens(this.language ?? 'en');
    this.context.trim(probeInitial.length + committed.length, this.options.maxContextTokens, nCtx - 20);

    const audio = await model.encode(this.mel.window());
    const content = Math.floor(this.mel.length / 320);
    if (this.language === null) this.language = (await detectLanguage(model, audio, tok)).language;
    const prefix = [...this.context.tokens(), ...this.initialTokens(this.language), ...committed];
    const threshold = isLast ? this.options.finalFrameThreshold : this.options.frameThreshold;
    const cap = Math.max(8, Math.ceil(this.options.maxTokensPerSecond * this.bufferSeconds) - committed.length);

    const result = await this.decode(audio, prefix, committed, content, threshold, cap, isLast);
    let tokens = result.tokens;
    let frames = result.frames;
    if (this.options.neverFire && !isLast && tokens.length > 0) {
      const words = splitToWordTokens(tok, tokens, this.language);
      const keep = words.length > 1 ? words.slice(0, -1).reduce((n, w) => n + w.tokens.length, 0) : 0;
      tokens = tokens.slice(0, keep);
      frames = frames.slice(0, keep);
    }
    this.committed[this.committed.length - 1]!.push(...tokens);
    return done(tokens, frames, result.stop);
  }

  /** The decoding loop of one iteration: greedy, or beam search with the policy on the best row. */
  private async decode(
    audio: EncodedAudio,
    prefix: readonly number[],
    committed: readonly number[],
    content: number,
    threshold: number,
    cap: number,
    isLast: boolean,
  ): Promise<{ tokens: number[]; frames: number[]; stop: StopReason }> {
    const { model, tokenizer: tok } = this.lm;
    const V = model.dims.n_vocab;
    const nCtx = model.dims.n_text_ctx;
    const B = this.options.beams;
    const heads = this.lm.alignmentHeads.length;
    const blank = [...tok.encode(' '), tok.special.eot];
    const eot = tok.special.eot;

    let hyps: Hypothesis[] = [{ tokens: [], frames: [], tracker: new AttentionTracker(heads), score: 0, row: 0 }];
    let cache: KvCache = model.emptyCache(1);
    let feed: number[][] = [[...prefix]];
    let first = true;
    while (prefix.length + hyps[0]!.tokens.length < nCtx) {
      const out = await model.decode({ tokens: feed, cache, audio });
      const T = feed[0]!.length;
      const rowAttn = heads * T * 1500;
      const rowCount = feed.length;
      // attention of the fed tokens, per decoder row
      for (const h of hyps) h.tracker.add(out.attention, T, h.row * rowAttn);
      // candidate continuations
      const candidates: { parent: Hypothesis; token: number; score: number }[] = [];
      for (const h of hyps) {
        const logits = out.logits.slice(h.row * V, (h.row + 1) * V);
        if (first) suppress(logits, blank);
        suppress(logits, this.alwaysSuppressed);
        const lp = logSoftmax(logits);
        for (const t of topK(lp, B === 1 ? 1 : B + 1)) candidates.push({ parent: h, token: t, score: h.score + lp[t]! });
      }
      first = false;
      candidates.sort((a, b) => b.score - a.score);
      const best = candidates[0]!;
      if (best.token === eot) return { tokens: best.parent.tokens, frames: best.parent.frames, stop: 'eot' };
      const chosen = candidates.filter((c) => c.token !== eot).slice(0, B);
      // the most-attended frame of a new token comes from the row that predicted it: once per parent
      const frameOf = new Map<Hypothesis, number>();
      const next: Hypothesis[] = chosen.map((c, i) => {
        let frame = frameOf.get(c.parent);
        const shared = frame !== undefined;
        if (frame === undefined) {
          frame = c.parent.tracker.mostAttendedFrame(content);
          frameOf.set(c.parent, frame);
        }
        const tracker = shared ? c.parent.tracker.clone() : c.parent.tracker;
        return { tokens: [...c.parent.tokens, c.token], frames: [...c.parent.frames, frame], tracker, score: c.score, row: i };
      });
      const top = next[0]!;
      const f = top.frames[top.frames.length - 1]!;
      const previous = top.tokens.length > 1 ? top.tokens[top.tokens.length - 2]! : (prefix[prefix.length - 1] ?? eot);
      if (!isLast && this.lastAttend - f > this.options.rewindThreshold) {
        if (previous >= eot) this.lastAttend = f;
        else {
          this.lastAttend = -this.options.rewindThreshold;
          return { tokens: [], frames: [], stop: 'rewind' };
        }
      } else this.lastAttend = f;
      if (content - f <= threshold) {
        return { tokens: top.tokens.slice(0, -1), frames: top.frames.slice(0, -1), stop: 'threshold' };
      }
      const rep = repetitionStart([...committed, ...top.tokens]);
      if (rep >= 0) {
        this.repetitionsCut++;
        const keep = Math.max(0, rep - committed.length);
        return { tokens: top.tokens.slice(0, keep), frames: top.frames.slice(0, keep), stop: 'repetition' };
      }
      if (top.tokens.length >= cap) return { tokens: top.tokens, frames: top.frames, stop: 'cap' };
      hyps = next;
      const order = chosen.map((c) => c.parent.row);
      const identity = order.length === rowCount && order.every((r, i) => r === i);
      cache = identity ? out.cache : model.selectCache(out.cache, order);
      feed = hyps.map((h) => [h.tokens[h.tokens.length - 1]!]);
    }
    return { tokens: hyps[0]!.tokens, frames: hyps[0]!.frames, stop: 'context' };
  }

  private update(tokens: number[], frames: number[], stop: StopReason, isLast: boolean, started: number): AlignAttUpdate {
    const tok = this.lm.tokenizer;
    const language = this.language ?? 'en';
    const words: TimedWord[] = [];
    let i = 0;
    for (const w of splitToWordTokens(tok, tokens, language)) {
      const b = frames[i]!;
      i += w.tokens.length;
      const e = frames[i - 1]!;
      words.push({
        start: b * FRAME_SECONDS + this.offset,
        end: e * FRAME_SECONDS + this.offset,
        text: w.text,
        tokens: w.tokens,
        bytes: tok.decodeBytes(w.tokens),
      });
    }
    const audioEnd = this.received / SAMPLE_RATE;
    const computeMs = performance.now() - started;
    this.clock = Math.max(this.clock, audioEnd) + computeMs / 1000;
    return {
      tokens,
      words,
      bytes: tok.decodeBytes(tokens),
      final: isLast,
      audioEnd,
      computeMs,
      emitted: this.clock,
      stop,
      language,
    };
  }
}

/** Indices of the k largest values, largest first. */
function topK(values: Float64Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === Number.NEGATIVE_INFINITY) continue;
    if (best.length < k || v > values[best[best.length - 1]!]!) {
      let p = best.length < k ? best.length : k - 1;
      if (best.length < k) best.push(i);
      while (p > 0 && values[best[p - 1]!]! < v) {
        best[p] = best[p - 1]!;
        p--;
      }
      best[p] = i;
    }
  }
  return best;
}
