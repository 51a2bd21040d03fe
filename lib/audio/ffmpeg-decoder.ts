import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { SimulstreamError } from '../errors.js';
import { SAMPLE_RATE } from './pcm.js';

/** The arguments that make ffmpeg write the wire format (s16le, 16 kHz, mono) to its stdout. */
export function ffmpegArgs(input: string): string[] {
  return [...(input === 'pipe:0' ? [] : ['-nostdin']), '-hide_banner', '-loglevel', 'error', '-i', input, '-f', 's16le', '-ac', '1', '-ar', String(SAMPLE_RATE), '-'];
}

/** The command a user can run to convert a file to a 16 kHz mono WAV that simulstream reads itself. */
export function ffmpegCommand(file: string): string {
  const q = (s: string): string => (/^[\w./:@%+=,-]+$/u.test(s) ? s : `'${s.replace(/'/gu, "'\\''")}'`);
  const out = file === '-' ? 'out.wav' : `${path.basename(file, path.extname(file))}.wav`;
  return `ffmpeg -i ${q(file)} -ar ${SAMPLE_RATE} -ac 1 ${q(out)}`;
}

export interface FfmpegDecodeOptions {
  /** The ffmpeg executable. */
  readonly ffmpeg: string;
  /** A file path, or the bytes themselves (sent to ffmpeg's stdin). */
  readonly input: string | Readable;
  /** For messages. */
  readonly name: string;
}

/**
 * Decodes anything ffmpeg reads into s16le 16 kHz mono, as a stream: ffmpeg runs as a child
 * process whose stdout is the returned stream (backpressure included). A non-zero exit fails the
 * stream with `ERR_FFMPEG` and ffmpeg's last error line; destroying the stream (a failed
 * pipeline) kills ffmpeg.
 */
export function ffmpegDecode(o: FfmpegDecodeOptions): Readable & { readonly ffmpeg: ChildProcess } {
  const out = new PassThrough();
  const fromStdin = typeof o.input !== 'string';
  const child = spawn(o.ffmpeg, ffmpegArgs(fromStdin ? 'pipe:0' : (o.input as string)), { stdio: [fromStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4096);
  });
  let exited = false;
  child.on('error', (err) => {
    exited = true;
    out.destroy(new SimulstreamError('ERR_FFMPEG_MISSING', `${o.name}: cannot run ${o.ffmpeg}: ${err.message}`, { cause: err }));
  });
  child.on('close', (code, signal) => {
    exited = true;
    if (out.destroyed) return;
    if (code === 0) {
      out.end();
      return;
    }
    const last = stderr.trim().split('\n').at(-1)?.trim();
    out.destroy(new SimulstreamError('ERR_FFMPEG', `${o.name}: ffmpeg failed (${signal ?? `exit code ${code}`})${last ? `: ${last}` : ''}`));
  });
  child.stdout!.pipe(out, { end: false });
  if (fromStdin) {
    const src = o.input as Readable;
    src.pipe(child.stdin!);
    // ffmpeg may stop reading early (an unreadable header): that is its error to report, not EPIPE's
    child.stdin!.on('error', () => src.unpipe(child.stdin!));
    out.once('close', () => src.destroy());
  }
  out.once('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return Object.assign(out, { ffmpeg: child });
}
