import { DEFAULTS } from '../defaults.js';
import { InvalidOptionError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';

/**
 * The encoder's window: `full`, Whisper's 30 s (SimulStreaming's); or `auto`, the buffered audio
 * rounded up to a multiple of 2 s (whisper.cpp's `audio_ctx`), faster while the buffer is short.
 * OpenAI's checkpoints were trained on 30 s windows only: `auto` trades an accuracy that could not
 * be measured on real weights here for speed.
 */
export type EncoderWindow = 'full' | 'auto';

/** The AlignAtt policy's settings; names follow SimulStreaming's flags. */
export interface AlignAttOptions {
  /** Language code, or `auto` (detected once, from the first encoder pass). Default `en`. */
  readonly language?: string;
  /** Transcribe (default) or translate into English. */
  readonly task?: 'transcribe' | 'translate';
  /** Beam size; 1 is greedy. */
  readonly beams?: number;
  /** Stop when the newest token attends within this many frames (20 ms) of the audio's end. Default 25. */
  readonly frameThreshold?: number;
  /** The threshold of the final pass at the end of a stream (or utterance). Default 4, SimulStreaming's (0: decode to the end of the text). */
  readonly finalFrameThreshold?: number;
  /** A jump back of more than this many frames discards the iteration. Default 200. */
  readonly rewindThreshold?: number;
  /** Seconds of audio kept in the buffer. Default 30. */
  readonly audioMaxLen?: number;
  /** Nothing is decoded while the buffer is shorter (seconds). Default 0. */
  readonly audioMinLen?: number;
  /** Hold back the last word of every non-final iteration. Default false. */
  readonly neverFire?: boolean;
  /** SimulStreaming's `--init_prompt`: text before the first words, scrolling away as text accumulates. */
  readonly initPrompt?: string;
  /** SimulStreaming's `--static_init_prompt`: kept for the whole stream (terminology). */
  readonly staticInitPrompt?: string;
  /** Most context tokens (default: the text context, 448). */
  readonly maxContextTokens?: number;
  /**
   * Our difference: cut a decoding loop (an n-gram repeated ≥ 3 times over ≥ 12 tokens) keeping
   * one copy. Default true; SimulStreaming has none.
   */
  readonly repetitionGuard?: boolean;
  /** Our difference: most committed tokens per second of buffered audio (0: no cap). Default 22.5. */
  readonly maxTokensPerSecond?: number;
  /** Our difference: timestamp tokens are never decoded (SimulStreaming can loop on `<|4.98|>`). Default true. */
  readonly suppressTimestamps?: boolean;
  /**
   * The encoder's window: `full`, Whisper's 30 s (SimulStreaming's; default), or `auto`, the
   * buffered audio rounded up to a multiple of 2 s (whisper.cpp's `audio_ctx`), faster while the
   * buffer is short (OpenAI's checkpoints were trained on 30 s windows only).
   */
  readonly encoderWindow?: EncoderWindow;
  /** Shares the model with other streams (one iteration is one unit of work). */
  readonly scheduler?: {
    /** Runs one iteration when the model is free. */
    run<T>(work: () => Promise<T>): Promise<T>;
  };
  /** Milliseconds, for the compute time of each iteration. Default `performance.now`. */
  readonly clock?: () => number;
}

/** Every key of {@link AlignAttOptions}, at run time. */
export const ALIGN_ATT_OPTION_KEYS = [
  'language', 'task', 'beams', 'frameThreshold', 'finalFrameThreshold', 'rewindThreshold', 'audioMaxLen', 'audioMinLen',
  'neverFire', 'initPrompt', 'staticInitPrompt', 'maxContextTokens', 'repetitionGuard', 'maxTokensPerSecond',
  'suppressTimestamps', 'encoderWindow', 'scheduler', 'clock',
] as const satisfies readonly (keyof AlignAttOptions)[];

/** The options with every default filled in, checked against the model. */
export interface ResolvedAlignAttOptions {
  readonly language: string;
  readonly task: 'transcribe' | 'translate';
  readonly beams: number;
  readonly frameThreshold: number;
  readonly finalFrameThreshold: number;
  readonly rewindThreshold: number;
  readonly audioMaxLen: number;
  readonly audioMinLen: number;
  readonly neverFire: boolean;
  readonly initPrompt: string;
  readonly staticInitPrompt: string;
  readonly maxContextTokens: number;
  readonly repetitionGuard: boolean;
  readonly maxTokensPerSecond: number;
  readonly suppressTimestamps: boolean;
  readonly encoderWindow: EncoderWindow;
}

/** Fills in the defaults and checks the options against the model; throws `InvalidOptionError` / `ERR_UNKNOWN_LANGUAGE`. */
export function resolveAlignAttOptions(lm: LoadedModel, opts: AlignAttOptions): ResolvedAlignAttOptions {
  const tok = lm.tokenizer;
  const language = opts.language ?? DEFAULTS.language;
  if (language !== 'auto' && tok.multilingual) tok.languageToken(language); // throws ERR_UNKNOWN_LANGUAGE
  if (!tok.multilingual && language !== 'en' && language !== 'auto') {
    throw new InvalidOptionError('--language', `an English-only model cannot transcribe "${language}"`);
  }
  if (!tok.multilingual && opts.task === 'translate') throw new InvalidOptionError('--task', 'English-only models cannot translate');
  const r: ResolvedAlignAttOptions = {
    language,
    task: opts.task ?? DEFAULTS.task,
    beams: opts.beams ?? DEFAULTS.beams,
    frameThreshold: opts.frameThreshold ?? DEFAULTS.frameThreshold,
    finalFrameThreshold: opts.finalFrameThreshold ?? DEFAULTS.finalFrameThreshold,
    rewindThreshold: opts.rewindThreshold ?? DEFAULTS.rewindThreshold,
    audioMaxLen: opts.audioMaxLen ?? DEFAULTS.audioMaxLen,
    audioMinLen: opts.audioMinLen ?? DEFAULTS.audioMinLen,
    neverFire: opts.neverFire ?? DEFAULTS.neverFire,
    initPrompt: opts.initPrompt ?? '',
    staticInitPrompt: opts.staticInitPrompt ?? '',
    maxContextTokens: opts.maxContextTokens ?? lm.dims.n_text_ctx,
    repetitionGuard: opts.repetitionGuard ?? DEFAULTS.repetitionGuard,
    maxTokensPerSecond: opts.maxTokensPerSecond ?? DEFAULTS.maxTokensPerSecond,
    suppressTimestamps: opts.suppressTimestamps ?? DEFAULTS.suppressTimestamps,
    encoderWindow: opts.encoderWindow ?? DEFAULTS.encoderWindow,
  };
  const positiveInt = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new InvalidOptionError(name, `must be an integer ≥ ${min}, got ${v}`);
  };
  positiveInt('--beams', r.beams, 1);
  positiveInt('--frame_threshold', r.frameThreshold, 0);
  positiveInt('--max_context_tokens', r.maxContextTokens, 0);
  if (!(r.audioMaxLen > 0) || r.audioMaxLen > 30) throw new InvalidOptionError('--audio_max_len', "must be more than 0 and at most 30 s (Whisper's window)");
  if (!(r.audioMinLen >= 0) || r.audioMinLen > r.audioMaxLen) {
    throw new InvalidOptionError('--audio_min_len', 'audio_min_len must be smaller than audio_max_len');
  }
  if (r.encoderWindow !== 'full' && r.encoderWindow !== 'auto') {
    throw new InvalidOptionError('--encoder-window', `must be 30 (full) or auto, got ${String(r.encoderWindow)}`);
  }
  if (!(r.maxTokensPerSecond >= 0)) throw new InvalidOptionError('--max-tokens-per-second', 'must be ≥ 0 (0: no cap)');
  return r;
}
