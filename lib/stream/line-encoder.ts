import { Transform, type TransformCallback } from 'node:stream';
import { formatLine } from './line-format.js';
import type { Segment } from './utf8-carry.js';

/** How a segment goes on the wire: SimulStreaming's `--out-txt` line, or its JSON object. */
export type OutputFormat = 'text' | 'json';

/**
 * One output line. `text`: `start_ms end_ms text\n`. `json`: SimulStreaming's default object,
 * `start`/`end` in seconds, `text`, `tokens`, `words` (each with start, end, text, tokens) and
 * `emission_time` (seconds since the connection opened); with voice activity control also
 * `is_final` (the utterance's final pass), and an utterance that ends without new text gives a
 * text-less `{"is_final": true, "emission_time": …}`.
 */
export function encodeSegment(seg: Segment, format: OutputFormat, emissionTime: number, vac = false): string {
  if (format === 'text') return seg.text === '' ? '' : formatLine(seg.startMs, seg.endMs, seg.text);
  if (vac && seg.text === '') return `${JSON.stringify({ is_final: true, emission_time: emissionTime })}\n`;
  return `${JSON.stringify({
    start: seg.startMs / 1000,
    end: seg.endMs / 1000,
    text: seg.text,
    tokens: seg.words.flatMap((w) => [...w.tokens]),
    words: seg.words.map((w) => ({ start: w.start, end: w.end, text: w.text, tokens: [...w.tokens] })),
    emission_time: emissionTime,
    ...(vac ? { is_final: seg.final } : {}),
  })}\n`;
}

/** An error for a JSON client: `{"error": {"code", "message"}}`. */
export function encodeError(code: string, message: string): string {
  return `${JSON.stringify({ error: { code, message } })}\n`;
}

/** Options of the {@link LineEncoder} stage. */
export interface LineEncoderOptions {
  /** Default `text`. */
  readonly format?: OutputFormat;
  /** Voice activity control: JSON lines carry `is_final`, and text-less utterance ends are sent. */
  readonly vac?: boolean;
  /** Seconds since the stream opened, for JSON's `emission_time` (default: since the encoder was made). */
  readonly emissionTime?: () => number;
  /** Called with each segment and its line ('' when nothing is sent for it), before the line goes out. */
  readonly onLine?: (line: string, segment: Segment) => void;
}

/**
 * Segments → output lines, the one encoder of the project (the `transcriber()`'s line output and
 * the server's text and JSON lines).
 */
export class LineEncoder extends Transform {
  private readonly format: OutputFormat;
  private readonly vac: boolean;
  private readonly emissionTime: () => number;
  private readonly onLine: ((line: string, segment: Segment) => void) | undefined;

  constructor(opts: LineEncoderOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false });
    this.format = opts.format ?? 'text';
    this.vac = opts.vac ?? false;
    const opened = performance.now();
    this.emissionTime = opts.emissionTime ?? (() => (performance.now() - opened) / 1000);
    this.onLine = opts.onLine;
  }

  /** @internal */
  override _transform(item: Segment, _enc: BufferEncoding, done: TransformCallback): void {
    const line = encodeSegment(item, this.format, this.emissionTime(), this.vac);
    this.onLine?.(line, item);
    done(null, line === '' ? undefined : Buffer.from(line, 'utf8'));
  }
}
