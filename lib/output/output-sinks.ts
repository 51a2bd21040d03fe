import { Transform, type TransformCallback } from 'node:stream';
import { encodeSegment } from '../stream/line-encoder.js';
import type { Segment } from '../stream/utf8-carry.js';
import { cueTime } from './cue-time.js';
import { transcriptSegment, type TranscriptDocument, type TranscriptSegment } from './transcript.js';

/** `--output-format`: `lines` (SimulStreaming's `start_ms end_ms text`), `txt`, `json`, `srt`, `vtt`. */
export type OutputFormat = 'lines' | 'txt' | 'json' | 'srt' | 'vtt';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['lines', 'txt', 'json', 'srt', 'vtt'];
/** The file extension of each format (`--output-dir`). */
export const OUTPUT_EXTENSIONS: Readonly<Record<OutputFormat, string>> = { lines: 'lines.txt', txt: 'txt', json: 'json', srt: 'srt', vtt: 'vtt' };

export interface SinkOptions {
  /** For `json`: the document's header fields. */
  readonly source?: string;
  readonly language?: string;
  readonly mode?: 'streaming' | 'offline';
  /** For `json`: the audio's length in ms once the input ended (default: the last segment's audio end). */
  readonly durationMs?: () => number;
  /** For `lines`: SimulStreaming's JSON objects (`--json`) instead of text lines. */
  readonly simulstreamingJson?: boolean;
  /** For `lines` with `simulstreamingJson`: voice activity control (`is_final`). */
  readonly vac?: boolean;
}

/** Segments (objectMode) → text in `format`, written as each segment arrives (`json`: at the end). */
export function outputSink(format: OutputFormat, o: SinkOptions = {}): Transform {
  switch (format) {
    case 'lines':
      return segmentWriter((s) => encodeSegment(s, o.simulstreamingJson ? 'json' : 'text', s.emittedMs / 1000, o.vac ?? false));
    case 'txt':
      return txtSink();
    case 'srt':
      return cueSink(',', '');
    case 'vtt':
      return cueSink('.', 'WEBVTT\n\n');
    case 'json':
      return jsonSink(o);
  }
}

/** One string (possibly empty) per segment. */
function segmentWriter(write: (s: Segment) => string, flush?: () => string): Transform {
  return new Transform({
    writableObjectMode: true,
    readableObjectMode: false,
    transform(s: Segment, _enc, done: TransformCallback) {
      const out = write(s);
      done(null, out === '' ? undefined : out);
    },
    flush(done: TransformCallback) {
      const out = flush?.() ?? '';
      done(null, out === '' ? undefined : out);
    },
  });
}

/**
 * Plain text as it is decoded: the segments' text run together (the first one's leading space
 * dropped), a new line at the end of each utterance (`--vac`) and of the input.
 */
function txtSink(): Transform {
  let atLineStart = true;
  let wrote = false;
  return segmentWriter(
    (s) => {
      let text = atLineStart ? s.text.trimStart() : s.text;
      if (text !== '') {
        atLineStart = false;
        wrote = true;
      }
      if (s.final && s.text === '' && !atLineStart) {
        atLineStart = true;
        text = '\n';
      }
      return text;
    },
    () => (wrote && !atLineStart ? '\n' : ''),
  );
}

/** SRT or WebVTT: one cue per segment with text. */
function cueSink(separator: ',' | '.', header: string): Transform {
  let n = 0;
  return segmentWriter((s) => {
    const text = s.text.trim();
    if (text === '') return '';
    n++;
    const head = n === 1 ? header : '';
    const index = separator === ',' ? `${n}\n` : '';
    return `${head}${index}${cueTime(s.startMs, separator)} --> ${cueTime(s.endMs, separator)}\n${text}\n\n`;
  });
}

/** The {@link TranscriptDocument}, once the segments ended. */
function jsonSink(o: SinkOptions): Transform {
  const mode = o.mode ?? 'streaming';
  const segments: TranscriptSegment[] = [];
  let lastAudioMs = 0;
  return segmentWriter(
    (s) => {
      lastAudioMs = Math.max(lastAudioMs, s.audioEndMs);
      if (s.text !== '' || mode === 'offline') segments.push(transcriptSegment(s, mode));
      return '';
    },
    () => {
      const doc: TranscriptDocument = {
        format: 'simulstream-transcript/1',
        mode,
        source: o.source ?? 'stdin',
        language: o.language ?? 'en',
        durationMs: Math.round(o.durationMs?.() ?? lastAudioMs),
        text: segments.map((s) => s.text).join('').trim(),
        segments,
      };
      return `${JSON.stringify(doc, null, 2)}\n`;
    },
  );
}
