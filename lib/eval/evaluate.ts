import { readAudioFile } from '../audio/wav.js';
import type { AlignAttOptions } from '../decode/align-att.js';
import { transcribeOffline } from '../decode/offline.js';
import type { LoadedModel } from '../model/load-model.js';
import { floatToS16le } from '../audio/pcm.js';
import { streamPcm } from '../stream/run-transcriber.js';
import { summarizeLags, wordLags, type LagSummary } from './lag.js';
import type { ManifestEntry } from './manifest.js';
import { werCounts, werPercent, type WerCounts } from './wer.js';

export type EvalMode = 'offline' | 'streaming';

export interface EvalOptions extends Omit<AlignAttOptions, 'language'> {
  readonly mode: EvalMode;
  readonly minChunkSize?: number;
  /** Called after each file. */
  readonly onResult?: (r: FileResult, index: number, total: number) => void;
}

export interface FileResult {
  readonly audio: string;
  readonly language: string;
  readonly reference: string;
  readonly hypothesis: string;
  readonly counts: WerCounts;
  readonly seconds: number;
  readonly computeSeconds: number;
  /** Streaming only: every emitted word's lag (s). */
  readonly lags?: readonly number[];
}

export interface EvalReport {
  readonly mode: EvalMode;
  readonly files: number;
  readonly audioSeconds: number;
  readonly computeSeconds: number;
  readonly realTimeFactor: number;
  readonly wer: Record<string, { readonly wer: number; readonly words: number; readonly errors: number; readonly files: number }>;
  readonly lag?: LagSummary;
  readonly results: readonly FileResult[];
}

/** Transcribes every file of a manifest and scores it (WER per language, lag when streaming). */
export async function evaluate(lm: LoadedModel, entries: readonly ManifestEntry[], opts: EvalOptions): Promise<EvalReport> {
  const { mode: _mode, onResult: _onResult, ...policy } = opts;
  const results: FileResult[] = [];
  for (const [i, e] of entries.entries()) {
    const samples = readAudioFile(e.audio).samples;
    const t0 = performance.now();
    let hypothesis: string;
    let lags: number[] | undefined;
    if (opts.mode === 'offline') {
      hypothesis = (
        await transcribeOffline(lm, samples, {
          language: e.language,
          ...(opts.beams ? { beams: opts.beams } : {}),
          ...(opts.encoderWindow ? { encoderWindow: opts.encoderWindow } : {}),
        })
      ).text;
    } else {
      const segs = await streamPcm(floatToS16le(samples), { ...policy, model: lm, language: e.language });
      hypothesis = segs.map((s) => s.text).join('');
      lags = wordLags(segs);
    }
    const r: FileResult = {
      audio: e.audio,
      language: e.language,
      reference: e.text,
      hypothesis: hypothesis.trim(),
      counts: werCounts(e.text, hypothesis, e.language),
      seconds: samples.length / 16000,
      computeSeconds: (performance.now() - t0) / 1000,
      ...(lags ? { lags } : {}),
    };
    results.push(r);
    opts.onResult?.(r, i, entries.length);
  }
  const wer: Record<string, { wer: number; words: number; errors: number; files: number }> = {};
  for (const lang of [...new Set(results.map((r) => r.language))]) {
    const rs = results.filter((r) => r.language === lang);
    const counts = rs.map((r) => r.counts);
    wer[lang] = {
      wer: werPercent(counts),
      words: counts.reduce((n, c) => n + c.words, 0),
      errors: counts.reduce((n, c) => n + c.errors, 0),
      files: rs.length,
    };
  }
  const audioSeconds = results.reduce((n, r) => n + r.seconds, 0);
  const computeSeconds = results.reduce((n, r) => n + r.computeSeconds, 0);
  return {
    mode: opts.mode,
    files: results.length,
    audioSeconds,
    computeSeconds,
    realTimeFactor: audioSeconds > 0 ? computeSeconds / audioSeconds : 0,
    wer,
    ...(opts.mode === 'streaming' ? { lag: summarizeLags(results.flatMap((r) => r.lags ?? [])) } : {}),
    results,
  };
}
