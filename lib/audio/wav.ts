import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import wavefile from 'wavefile';
import { SimulstreamError } from '../errors.js';
import { ffmpegArgs, ffmpegCommand } from './ffmpeg-decoder.js';
import { s16leToFloat, SAMPLE_RATE, sniffContainer } from './pcm.js';

/** A whole audio file, decoded for offline transcription. */
export interface DecodedAudio {
  /** Mono float samples in [-1, 1) at 16 kHz. */
  readonly samples: Float32Array;
  /** The file's own rate and channel count, before conversion. */
  readonly sourceRate: number;
  /** The file's own channel count (the samples are their mix). */
  readonly sourceChannels: number;
}


/**
 * Reads a whole audio file (offline decoding, evaluation), recognising it as `openAudio` does: a
 * WAV file of any rate, bit depth and channel count (mixed to mono, resampled to 16 kHz with
 * wavefile's sinc resampler); a compressed file (MP3, FLAC, Ogg, MP4, WebM) through `ffmpeg` when
 * given, else `ERR_FFMPEG_MISSING`; anything else as raw s16le 16 kHz mono. An empty file is
 * `ERR_AUDIO_EMPTY`.
 */
export function readAudioFile(file: string, opts: { readonly ffmpeg?: string } = {}): DecodedAudio {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new SimulstreamError('ERR_AUDIO_INPUT', `${file}: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.length === 0) throw new SimulstreamError('ERR_AUDIO_EMPTY', `${file}: the input is empty (no audio)`);
  const container = sniffContainer(bytes);
  if (container === 'wav') return decodeWav(bytes, file);
  if (container === null) return { samples: s16leToFloat(bytes), sourceRate: SAMPLE_RATE, sourceChannels: 1 };
  if (!opts.ffmpeg) {
    throw new SimulstreamError('ERR_FFMPEG_MISSING', `${file}: ${container.toUpperCase()} audio needs ffmpeg, which is not given; convert it: ${ffmpegCommand(file)}`);
  }
  const r = spawnSync(opts.ffmpeg, ffmpegArgs(file), { maxBuffer: 2 ** 31 });
  if (r.status !== 0) {
    const last = String(r.stderr ?? r.error?.message ?? '').trim().split('\n').at(-1);
    throw new SimulstreamError('ERR_FFMPEG', `${file}: ffmpeg failed${last ? `: ${last}` : ''}`);
  }
  return { samples: s16leToFloat(r.stdout), sourceRate: SAMPLE_RATE, sourceChannels: 1 };
}

export function decodeWav(bytes: Uint8Array, name = 'WAV data'): DecodedAudio {
  let wav: wavefile.WaveFile;
  try {
    wav = new wavefile.WaveFile(bytes);
  } catch (err) {
    throw new SimulstreamError('ERR_AUDIO_FORMAT', `${name}: not a readable WAV file (${(err as Error).message})`, { cause: err });
  }
  const fmt = wav.fmt as { sampleRate: number; numChannels: number };
  // toSampleRate rewrites the header: keep the source's values
  const { sampleRate, numChannels: channels } = fmt;
  if (!(channels >= 1) || !(sampleRate > 0)) {
    throw new SimulstreamError('ERR_AUDIO_FORMAT', `${name}: WAV header declares ${channels} channels at ${sampleRate} Hz`);
  }
  if (sampleRate !== SAMPLE_RATE) wav.toSampleRate(SAMPLE_RATE, { method: 'sinc' });
  const is16 = wav.bitDepth === '16';
  if (!is16) wav.toBitDepth('32f');
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const chans = Array.isArray(raw) ? raw : [raw];
  const n = chans[0]!.length;
  const samples = new Float32Array(n);
  const scale = is16 ? 1 / 32768 : 1;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const c of chans) s += c[i]!;
    samples[i] = (s / chans.length) * scale;
  }
  return { samples, sourceRate: sampleRate, sourceChannels: channels };
}
