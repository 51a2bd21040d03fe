import { formatLine } from '../stream/line-format.js';
import type { Segment } from '../stream/utf8-carry.js';

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
