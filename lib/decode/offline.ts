import { N_FRAMES, N_SAMPLES, SAMPLE_RATE, fittedWindowFrames } from '../audio/mel.js';
import { checkOptionKeys, type MissingKeys } from '../util/option-keys.js';
import { InvalidOptionError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import { detectLanguage } from './language.js';
import { blankTokens, openaiSuppressTokens } from './logit-filters.js';
import { decodeWindow } from './search.js';

/** How {@link transcribeOffline} decodes; every field is optional. */
export interface OfflineOptions {
  /** A language code, or `'auto'` to detect it (default `'en'`). */
  readonly language?: string;
  /** `transcribe` (default) or `translate` (into English; multilingual models only). */
  readonly task?: 'transcribe' | 'translate';
  /** 1 = greedy (default). */
  readonly beams?: number;
  /** Most tokens per 30-s window (default 224, OpenAI's sample_len). */
  readonly sampleLen?: number;
  /** `full` (Whisper's 30 s, default) or `auto`: each window's encoder fitted to its audio (see `EncoderWindow`). */
  readonly encoderWindow?: 'full' | 'auto';
}

/** Every key of {@link OfflineOptions}, at run time. */
const OFFLINE_OPTION_KEYS = ['language', 'task', 'beams', 'sampleLen', 'encoderWindow'] as const satisfies readonly (keyof OfflineOptions)[];

/** One decoded window (at most 30 s) of {@link OfflineResult.windows}. */
export interface OfflineWindow {
  /** First sample of the window (16 kHz samples from the start of the audio). */
  readonly startSample: number;
  /** One past the window's last sample (16 kHz samples). */
  readonly endSample: number;
  /** The decoded text tokens, without the prompt and without `<|endoftext|>`. */
  readonly tokens: number[];
  /** The window's text (its tokens decoded). */
  readonly text: string;
  /** The language the window was decoded in. */
  readonly language: string;
  /** The sum of the tokens' log-probabilities over their count + 1 (OpenAI's `avg_logprob`). */
  readonly avgLogprob: number;
}

/** What {@link transcribeOffline} returns. */
export interface OfflineResult {
  /** The whole transcript: the windows' texts joined. */
  readonly text: string;
  /** The language given, or with `auto` the one detected on the first window (used for all). */
  readonly language: string;
  /** Each window's tokens and text, in order. */
  readonly windows: OfflineWindow[];
}

/**
 * Whole-file transcription without timestamps, window by window (OpenAI's `decode` with
 * `without_timestamps=True` on each window). Audio longer than 30 s is cut at the quietest
 * 100 ms between 20 and 30 s of each window.
 */
export async function transcribeOffline(lm: LoadedModel, samples: Float32Array, opts: OfflineOptions = {}): Promise<OfflineResult> {
  checkOptionKeys<MissingKeys<OfflineOptions, typeof OFFLINE_OPTION_KEYS>>(opts, OFFLINE_OPTION_KEYS, 'transcribeOffline');
  const tok = lm.tokenizer;
  const beams = opts.beams ?? 1;
  if (!Number.isInteger(beams) || beams < 1) throw new InvalidOptionError('--beams', `must be a positive integer, got ${beams}`);
  let language = opts.language ?? 'en';
  if (language !== 'auto') tok.languageToken(language); // validates
  const mel = lm.createMel();
  const windows: OfflineWindow[] = [];
  for (const [start, end] of windowsOf(samples)) {
    const frames = opts.encoderWindow === 'auto' ? fittedWindowFrames(end - start) : N_FRAMES;
    const audio = await lm.model.encode(mel.compute(samples.subarray(start, end), frames));
    let lang = language;
    if (lang === 'auto') lang = tok.multilingual ? (await detectLanguage(lm.model, audio, tok)).language : 'en';
    const initial = tok.multilingual
      ? [tok.special.sot, tok.languageToken(lang), opts.task === 'translate' ? tok.special.translate : tok.special.transcribe, tok.special.noTimestamps]
      : [tok.special.sot, tok.special.noTimestamps];
    const search = {
      suppressTokens: openaiSuppressTokens(tok),
      suppressAtBegin: blankTokens(tok),
      eot: tok.special.eot,
      ...(opts.sampleLen ? { sampleLen: opts.sampleLen } : {}),
    };
    const r = await decodeWindow(lm.model, audio, initial, beams, search);
    windows.push({ startSample: start, endSample: end, tokens: r.tokens, text: tok.decode(r.tokens), language: lang, avgLogprob: r.avgLogprob });
    if (language === 'auto') language = lang;
  }
  return { text: windows.map((w) => w.text).join(''), language, windows };
}

/** Splits audio into ≤ 30 s windows, cutting long audio at the quietest 100 ms between 20 and 30 s. */
export function windowsOf(samples: Float32Array): [number, number][] {
  const out: [number, number][] = [];
  const step = SAMPLE_RATE / 10;
  let start = 0;
  while (samples.length - start > N_SAMPLES) {
    let best = start + N_SAMPLES;
    let bestEnergy = Number.POSITIVE_INFINITY;
    for (let s = start + 20 * SAMPLE_RATE; s + step <= start + N_SAMPLES; s += step / 2) {
      let e = 0;
      for (let i = s; i < s + step; i++) e += samples[i]! * samples[i]!;
      if (e < bestEnergy) {
        bestEnergy = e;
        best = s + step / 2;
      }
    }
    out.push([start, best]);
    start = best;
  }
  if (samples.length > start || out.length === 0) out.push([start, samples.length]);
  return out;
}
