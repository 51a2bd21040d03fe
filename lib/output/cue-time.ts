import { formatMs } from '../stream/line-format.js';

/** Milliseconds as the integer the text lines print (Python's `%1.0f`: half to even). */
export function wholeMs(ms: number): number {
  return Number(formatMs(ms));
}

/** A subtitle cue time, `HH:MM:SS,mmm` (SRT, `separator` ',') or `HH:MM:SS.mmm` (WebVTT, '.'). */
export function cueTime(ms: number, separator: ',' | '.'): string {
  const t = Math.max(0, wholeMs(ms));
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor(t / 60_000) % 60;
  const s = Math.floor(t / 1000) % 60;
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(t % 1000, 3)}`;
}
