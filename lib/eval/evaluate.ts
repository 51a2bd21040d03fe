import { readAudioFile } from '../audio/wav.js';
import type { AlignAttOptions } from '../decode/align-att.js';
import { ALIGN_ATT_OPTION_KEYS } from '../decode/align-att-options.js';
import { InvalidOptionError } from '../errors.js';
import { checkOptionKeys, type MissingKeys } from '../util/option-keys.js';
import { transcribeOffline } from '../decode/offline.js';
import type { LoadedModel } from '../model/load-model.js';
import type { Chunking } from '../stream/chunk-buffer.js';
import { floatToS16le } from '../audio/pcm.js';
import { streamPcm } from '../stream/run-transcriber.js';
import type { SileroVad } from '../vad/silero-vad.js';
import { emittedWords, type EmittedText } from './emitted-words.js';
import type { ManifestEntry } from './manifest.js';
import { sentenceLags, summarizeSentenceLags, type SentenceLag, type SentenceLagSummary } from './sentence-lag.js';
import { werCounts, werPercent, type WerCounts } from './wer.js';

/** `offline`: whole-file decoding ({@link transcribeOffline}); `streaming`: the AlignAtt pipeline, chunk by chunk. */
export type EvalMode = 'offline' | 'streaming';

const EVAL_OPTION_KEYS = [
  ...ALIGN_ATT_OPTION_KEYS.filter((k): k is Exclude<(typeof ALIGN_ATT_OPTION_KEYS)[number], 'language'> => k !== 'language'),
  'mode', 'minChunkSize', 'vad', 'chunking', 'finalPass', 'onResult',
] as const;

/** How {@link evaluate} transcribes the manifest's files (each file's language comes from the manifest). */
export interface EvalOptions extends Omit<AlignAttOptions, 'language'> {
  /** Offline or streaming decoding. */
  readonly mode: EvalMode;
  /** Streaming: seconds of audio per policy iteration. Default 1.2. */
  readonly minChunkSize?: number;
  /** Streaming: voice activity control (`--vac`). */
  readonly vad?: SileroVad;
  /** Streaming: `simulstreaming` is SimulStreaming's `--comp_unaware` file loop (emission time = the chunk's end). */
  readonly chunking?: Chunking;
  /** Streaming: the end-of-stream pass (default true; SimulStreaming's server has none). */
  readonly finalPass?: boolean;
  /** Called after each file. */
  readonly onResult?: (r: FileResult, index: number, total: number) => void;
}

/** One file's transcript and scores. */
export interface FileResult {
  /** The audio file's path (the manifest entry's). */
  readonly audio: string;
  /** The file's language code (from the manifest). */
  readonly language: string;
  /** The manifest's reference transcript. */
  readonly reference: string;
  /** Our transcript, trimmed. */
  readonly hypothesis: string;
  /** Word errors and reference words after the language's normaliser. */
  readonly counts: WerCounts;
  /** The audio's duration (s). */
  readonly seconds: number;
  /** Wall-clock seconds the transcription took. */
  readonly computeSeconds: number;
  /** CPU seconds this process spent on it (every thread): less sensitive to other load on the machine. */
  readonly cpuSeconds: number;
  /** Streaming: the text of each update and its emission time (s, the audio's clock). */
  readonly emitted?: readonly EmittedText[];
  /** Streaming, when the manifest gives the file's sentences: each sentence's emission lag. */
  readonly sentenceLags?: readonly SentenceLag[];
}

/** WER over a set of files: errors and reference words summed, then divided. */
export interface WerFigures {
  /** Word error rate in percent. */
  readonly wer: number;
  /** Reference words (after normalisation). */
  readonly words: number;
  /** Substitutions + deletions + insertions. */
  readonly errors: number;
  /** Files counted. */
  readonly files: number;
}

/** What {@link evaluate} returns: the figures over every file, and each file's result. */
export interface EvalReport {
  /** The mode the files were decoded in. */
  readonly mode: EvalMode;
  /** Files transcribed. */
  readonly files: number;
  /** Total audio duration (s). */
  readonly audioSeconds: number;
  /** Total wall-clock transcription time (s). */
  readonly computeSeconds: number;
  /** Wall-clock compute over audio duration. */
  readonly realTimeFactor: number;
  /** CPU seconds per second of audio. */
  readonly cpuPerAudioSecond: number;
  /** WER per language code. */
  readonly wer: Record<string, WerFigures>;
  /**
   * Streaming, over the files whose sentences the manifest gives: how late each sentence's last
   * word came out (its emission time minus the sentence's end; see {@link FileResult.sentenceLags}).
   */
  readonly sentenceLag?: SentenceLagSummary;
  /** Each file's result, in manifest order. */
  readonly results: readonly FileResult[];
}

/** Transcribes every file of a manifest and scores it (WER per language; sentence lag when streaming). */
export async function evaluate(lm: LoadedModel, entries: readonly ManifestEntry[], opts: EvalOptions): Promise<EvalReport> {
  checkOptionKeys<MissingKeys<EvalOptions, typeof EVAL_OPTION_KEYS>>(opts, EVAL_OPTION_KEYS, 'evaluate');
  if (opts.mode !== 'offline' && opts.mode !== 'streaming') throw new InvalidOptionError('mode', `"offline" or "streaming", got ${JSON.stringify(opts.mode)}`);
  const results: FileResult[] = [];
  for (const [i, e] of entries.entries()) {
    const samples = readAudioFile(e.audio).samples;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let hypothesis: string;
    let emitted: EmittedText[] | undefined;
    if (opts.mode === 'offline') {
      hypothesis = (
        await transcribeOffline(lm, samples, {
          language: e.language,
          ...(opts.beams ? { beams: opts.beams } : {}),
          ...(opts.encoderWindow ? { encoderWindow: opts.encoderWindow } : {}),
        })
      ).text;
    } else {
      const { mode: _m, onResult: _r, ...stream } = opts;
      const segs = await streamPcm(floatToS16le(samples), { ...stream, model: lm, language: e.language });
      emitted = segs.map((s) => ({ text: s.text, at: s.emittedMs / 1000 }));
      hypothesis = emitted.map((s) => s.text).join('');
    }
    const computeSeconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    results.push({ ...fileResult(e, hypothesis, samples.length / 16000, computeSeconds, emitted), cpuSeconds: (cpu.user + cpu.system) / 1e6 });
    opts.onResult?.(results.at(-1)!, i, entries.length);
  }
  return report(opts.mode, results);
}

/** Scores one file's transcript (and, given its emissions and the manifest's sentences, their lags); CPU time 0. */
export function fileResult(e: ManifestEntry, hypothesis: string, seconds: number, computeSeconds: number, emitted?: readonly EmittedText[]): FileResult {
  return {
    audio: e.audio,
    language: e.language,
    reference: e.text,
    hypothesis: hypothesis.trim(),
    counts: werCounts(e.text, hypothesis, e.language),
    seconds,
    computeSeconds,
    cpuSeconds: 0,
    ...(emitted ? { emitted } : {}),
    ...(emitted && e.segments ? { sentenceLags: sentenceLags(e.segments, emittedWords(emitted, e.language), e.language) } : {}),
  };
}

/** WER per language, real-time factor and sentence lags over scored files. */
export function report(mode: EvalMode, results: readonly FileResult[]): EvalReport {
  const wer: Record<string, WerFigures> = {};
  for (const lang of [...new Set(results.map((r) => r.language))]) wer[lang] = werOf(results.filter((r) => r.language === lang));
  const audioSeconds = results.reduce((n, r) => n + r.seconds, 0);
  const computeSeconds = results.reduce((n, r) => n + r.computeSeconds, 0);
  const cpuSeconds = results.reduce((n, r) => n + r.cpuSeconds, 0);
  const lags = results.flatMap((r) => r.sentenceLags ?? []);
  return {
    mode,
    files: results.length,
    audioSeconds,
    computeSeconds,
    realTimeFactor: audioSeconds > 0 ? computeSeconds / audioSeconds : 0,
    cpuPerAudioSecond: audioSeconds > 0 ? cpuSeconds / audioSeconds : 0,
    wer,
    ...(lags.length ? { sentenceLag: summarizeSentenceLags(lags) } : {}),
    results,
  };
}

/** WER over some files (errors and words summed, then divided). */
export function werOf(results: readonly FileResult[]): WerFigures {
  const counts = results.map((r) => r.counts);
  return {
    wer: werPercent(counts),
    words: counts.reduce((n, c) => n + c.words, 0),
    errors: counts.reduce((n, c) => n + c.errors, 0),
    files: results.length,
  };
}
