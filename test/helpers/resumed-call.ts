// What a call's stored transcript must be when the bridge resumed it on a new recognizer
// connection: the lines of the new stream, in the call's clock.
import type { StoredLine } from '../../lib/bridge/transcript-store.js';
import { formatMs } from '../../lib/stream/line-format.js';
import { streamPcm, type StreamRunOptions } from '../../lib/stream/run-transcriber.js';

/** `start end text`, the way these checks compare lines. */
export const lineText = (l: StoredLine): string => `${l.start_ms} ${l.end_ms} ${l.text}`;

/**
 * The lines a server (without catch-up) gives for a 16 kHz call's audio from `fromMs` on, as the
 * bridge stores them: the server's whole-ms times shifted into the call's clock, each resumed line
 * starting after the last stored line's end (`fromMs`). `fromMs` 0: the whole call's transcript.
 */
export async function linesFrom(audio: Int16Array, fromMs: number, opts: StreamRunOptions): Promise<string[]> {
  const from = (fromMs * 16000) / 1000;
  const segs = await streamPcm(new Uint8Array(audio.buffer, audio.byteOffset + from * 2, (audio.length - from) * 2), opts);
  return segs.map((x) => {
    const [start, end] = [Number(formatMs(x.startMs)), Number(formatMs(x.endMs))];
    return fromMs === 0 ? `${start} ${end} ${x.text}` : `${Math.min(end + fromMs, Math.max(start + fromMs, fromMs + 1))} ${end + fromMs} ${x.text}`;
  });
}
