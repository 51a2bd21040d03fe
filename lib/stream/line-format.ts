/**
 * Python's `'%1.0f' % x`: round half to even on the exact binary value (JavaScript's `toFixed`
 * rounds half away from zero).
 */
export function formatMs(x: number): string {
  const f = Math.floor(x);
  const d = x - f; // exact for |x| < 2^52
  let r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  if (Object.is(r, -0)) r = 0;
  return (r === 0 && x < 0 ? '-' : '') + String(r);
}

/** SimulStreaming's `--out-txt` line: `"%1.0f %1.0f %s\n" % (start_ms, end_ms, text)`. */
export function formatLine(startMs: number, endMs: number, text: string): string {
  return `${formatMs(startMs)} ${formatMs(endMs)} ${text}\n`;
}
