import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { InternalError, SimulstreamError } from '../errors.js';
import { ffmpegCommand, ffmpegDecode } from './ffmpeg-decoder.js';
import { floatToS16le, sniffContainer, SAMPLE_RATE, SNIFF_BYTES, type AudioContainer } from './pcm.js';
import { decodeWav } from './wav.js';
import { describeLayout, MAX_WAV_HEADER, parseWavHeader, type WavLayout } from './wav-header.js';
import { WavSamples } from './wav-samples.js';

/** What the input is said to be: `auto` sniffs its first bytes. */
export type InputFormat = 'auto' | 'raw' | 'wav';
export const INPUT_FORMATS: readonly InputFormat[] = ['auto', 'raw', 'wav'];

/** How {@link openAudio} reads its input. */
export interface OpenAudioOptions {
  /** What the input is said to be: `auto` (default) sniffs its first bytes, `raw` or `wav` insist. */
  readonly format?: InputFormat;
  /** What `-` reads (default `process.stdin`). */
  readonly stdin?: Readable;
  /** The ffmpeg executable, when there is one (see `findProgram`); without it compressed files are refused. */
  readonly ffmpeg?: string | undefined;
}

/** How the bytes become s16le 16 kHz mono. */
export type AudioDecoder = 'raw' | 'wav' | 'ffmpeg' | 'wavefile';

/** An opened audio input ({@link openAudio}): its s16le 16 kHz mono stream and how it was recognised. */
export interface AudioInput {
  /** s16le 16 kHz mono bytes, read as they are consumed (nothing is read whole, except by `wavefile`). */
  readonly stream: Readable;
  /** What the first bytes say: `wav`, `mp3`, `flac`, `ogg`, `mp4`, `webm`, or `raw` (no header recognised). */
  readonly container: AudioContainer | 'raw';
  /**
   * How the bytes become s16le 16 kHz mono: `raw` (passed on as they are), `wav` (a 16 kHz WAV's
   * samples streamed), `ffmpeg` (decoded and resampled by ffmpeg) or `wavefile` (a WAV at another
   * rate read whole and resampled in memory, without ffmpeg).
   */
  readonly decoder: AudioDecoder;
  /** The file name, or `stdin`. */
  readonly name: string;
  /** A note for the user (raw PCM assumed from a file that does not look like it), or undefined. */
  readonly warning?: string;
}

const FORMAT_NAMES: Readonly<Record<AudioContainer, string>> = { wav: 'WAV', mp3: 'MP3', flac: 'FLAC', ogg: 'Ogg', mp4: 'MP4/M4A', webm: 'WebM/Matroska' };
/** Extensions under which headerless PCM is usually stored. */
const RAW_EXTENSIONS = new Set(['.raw', '.pcm', '.s16', '.s16le', '.sln', '.sln16', '.r16', '.l16']);

/**
 * Opens an audio input for transcription: a file path, or `-` for stdin. The first bytes say what
 * it is (`sniffContainer`):
 * - no header: raw s16le 16 kHz mono (SimulStreaming's wire format), passed on as it is;
 * - WAV at 16 kHz (any depth and channel count): the header is parsed and the samples streamed
 *   (16-bit mono bytes untouched); WAV at another rate: through ffmpeg when there is one, else
 *   read whole and resampled with wavefile's sinc;
 * - MP3, FLAC, Ogg, MP4/M4A, WebM: through ffmpeg (`ffmpeg -i … -f s16le -ac 1 -ar 16000 -`);
 *   without it, `ERR_FFMPEG_MISSING` naming the format and the command that converts it.
 * An empty input fails with `ERR_AUDIO_EMPTY`, an unreadable one with `ERR_AUDIO_INPUT`.
 */
export async function openAudio(input: string, opts: OpenAudioOptions = {}): Promise<AudioInput> {
  const format = opts.format ?? 'auto';
  const name = input === '-' ? 'stdin' : input;
  const stdin = opts.stdin ?? process.stdin;
  if (input === '-' && (stdin as { isTTY?: boolean }).isTTY) {
    throw new SimulstreamError('ERR_AUDIO_INPUT', 'stdin is a terminal, not audio: pipe audio into it (e.g. arecord -f S16_LE -r 16000 -c 1 -t raw | simulstream transcribe - …)');
  }
  const opened = input === '-' ? stdin : await openFile(input);
  let head: Buffer;
  let source: Readable;
  try {
    ({ head, rest: source } = await peek(opened, SNIFF_BYTES));
  } catch (err) {
    opened.destroy();
    throw err instanceof SimulstreamError ? err : new SimulstreamError('ERR_AUDIO_INPUT', `${name}: ${(err as Error).message}`, { cause: err });
  }
  if (head.length === 0) {
    source.destroy();
    throw new SimulstreamError('ERR_AUDIO_EMPTY', `${name}: the input is empty (no audio)`);
  }
  const container = sniffContainer(head) ?? 'raw';
  if (format === 'raw' || (format === 'auto' && container === 'raw')) {
    const ext = path.extname(input).toLowerCase();
    const warning =
      format === 'auto' && input !== '-' && !RAW_EXTENSIONS.has(ext)
        ? `${name}: no audio header recognised; reading it as raw PCM (s16le 16 kHz mono, SimulStreaming's wire format); --format raw says so and silences this`
        : undefined;
    return { stream: source, container, decoder: 'raw', name, ...(warning ? { warning } : {}) };
  }
  if (format === 'wav' && container !== 'wav') {
    source.destroy();
    throw new SimulstreamError('ERR_AUDIO_FORMAT', `${name}: --format wav, but the input has no RIFF/WAVE header${container !== 'raw' ? ` (it looks like ${FORMAT_NAMES[container]})` : ''}`);
  }
  if (container === 'wav') return openWav(source, input, name, opts.ffmpeg);
  if (container === 'raw') throw new InternalError('raw input reached the decoder choice');
  if (!opts.ffmpeg) {
    source.destroy();
    throw new SimulstreamError(
      'ERR_FFMPEG_MISSING',
      `${name}: ${FORMAT_NAMES[container]} audio needs ffmpeg, which is not on the PATH; install it (apt-get install ffmpeg) or convert the file: ${ffmpegCommand(input)}`,
    );
  }
  return { stream: requireSamples(viaFfmpeg(source, input, name, opts.ffmpeg), name), container, decoder: 'ffmpeg', name };
}

async function openWav(opened: Readable, input: string, name: string, ffmpeg: string | undefined): Promise<AudioInput> {
  let layout: WavLayout | undefined;
  let reason: string | undefined;
  let source = opened;
  for (let want = 64; ; want *= 4) {
    let head: Buffer;
    ({ head, rest: source } = await peek(source, Math.min(want, MAX_WAV_HEADER + 8)));
    const r = parseWavHeader(head);
    if (r.kind === 'layout') layout = r.layout;
    else if (r.kind === 'invalid') reason = r.reason;
    else if (head.length < want) reason = 'the file ends inside its header';
    if (layout || reason) break;
  }
  if (layout && !layout.bigEndian && layout.sampleRate === SAMPLE_RATE) {
    return { stream: requireSamples(source.pipe(new WavSamples(layout)), name, source), container: 'wav', decoder: 'wav', name };
  }
  // another rate (or a header only ffmpeg and wavefile read): resampled
  if (ffmpeg) return { stream: requireSamples(viaFfmpeg(source, input, name, ffmpeg), name), container: 'wav', decoder: 'ffmpeg', name };
  if (reason !== undefined && !reason.startsWith('format tag')) {
    source.destroy();
    throw new SimulstreamError('ERR_AUDIO_FORMAT', `${name}: not a readable WAV file (${reason})`);
  }
  if (reason !== undefined) {
    source.destroy();
    throw new SimulstreamError('ERR_FFMPEG_MISSING', `${name}: a compressed WAV file (${reason}) needs ffmpeg, which is not on the PATH; convert it: ${ffmpegCommand(input)}`);
  }
  // without ffmpeg: wavefile, on the whole file (documented; a 16 kHz file never comes here)
  const bytes = await collect(source);
  const samples = decodeWav(bytes, name).samples;
  const pcm = floatToS16le(samples);
  return { stream: requireSamples(Readable.from([pcm]), name), container: 'wav', decoder: 'wavefile', name, warning: `${name}: ${describeLayout(layout!)} resampled to 16 kHz in memory (install ffmpeg to stream it)` };
}

function viaFfmpeg(source: Readable, input: string, name: string, ffmpeg: string): Readable {
  if (input === '-') return ffmpegDecode({ ffmpeg, input: source, name });
  source.destroy(); // ffmpeg opens the file itself (it may need to seek: MP4)
  return ffmpegDecode({ ffmpeg, input, name });
}

async function openFile(file: string): Promise<Readable> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
    const st = await handle.stat();
    if (st.isDirectory()) {
      await handle.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new SimulstreamError('ERR_AUDIO_INPUT', `${file}: ${why}`, { cause: err });
  }
  return rewrapErrors(handle.createReadStream({ highWaterMark: 64 * 1024 }), file);
}

/** A read error later on (EIO, a file removed under us) becomes `ERR_AUDIO_INPUT` naming the file. */
function rewrapErrors(stream: Readable, file: string): Readable {
  const out = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      done(null, chunk);
    },
  });
  stream.on('error', (err) => out.destroy(new SimulstreamError('ERR_AUDIO_INPUT', `${file}: ${err.message}`, { cause: err })));
  out.once('close', () => stream.destroy());
  return stream.pipe(out);
}

/**
 * Reads until at least `n` bytes arrived (or the stream ended) and gives them back with a stream
 * that still yields every byte from the first: the same stream, paused, its first bytes put back,
 * or (when it ended meanwhile) a new one of those bytes.
 */
export function peek(stream: Readable, n: number): Promise<{ head: Buffer; rest: Readable }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let have = 0;
    let ended = false;
    const finish = (err?: Error): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', finish);
      if (err) return reject(err);
      const head = Buffer.concat(parts);
      if (ended || stream.readableEnded) return resolve({ head, rest: Readable.from(head.length > 0 ? [head] : []) });
      if (head.length > 0) stream.unshift(head);
      resolve({ head, rest: stream });
    };
    const onEnd = (): void => {
      ended = true;
      finish();
    };
    const onReadable = (): void => {
      let b: Buffer | string | null;
      while (have < n && (b = stream.read() as Buffer | string | null) !== null) {
        const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
        parts.push(buf);
        have += buf.length;
      }
      if (have >= n) finish();
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', finish);
  });
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

/**
 * Passes the bytes on; at the end, fails with `ERR_AUDIO_EMPTY` when there were none (a WAV
 * header without samples, a file ffmpeg decodes to nothing).
 */
function requireSamples(stream: Readable, name: string, upstream?: Readable): Readable {
  let bytes = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      bytes += chunk.length;
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      done(bytes < 2 ? new SimulstreamError('ERR_AUDIO_EMPTY', `${name}: no audio samples in the input`) : null);
    },
  });
  stream.on('error', (err) => check.destroy(err));
  upstream?.on('error', (err) => check.destroy(err));
  check.once('close', () => {
    stream.destroy();
    upstream?.destroy();
  });
  return stream.pipe(check);
}
