/**
 * The one home of the wire format's numbers and conversions: raw PCM, signed 16-bit
 * little-endian, 16 kHz, mono (SimulStreaming's protocol), and how to recognise what is not.
 */

/** Samples per second of the audio the model hears. */
export const SAMPLE_RATE = 16000;
/** Bytes per s16le sample. */
export const BYTES_PER_SAMPLE = 2;
/** Bytes per second of 16 kHz mono s16le. */
export const BYTES_PER_SECOND = SAMPLE_RATE * BYTES_PER_SAMPLE;

/** What the streams expect: raw PCM without a header. */
export const EXPECTED_PCM = 'raw PCM: signed 16-bit little-endian, 16 kHz, mono, no header';

/** Rounds and clamps to the int16 range. */
export function clampS16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/**
 * s16le bytes → float samples in [-1, 1), as Whisper reads them (÷ 32768). A trailing odd byte is
 * ignored (callers that stream carry it themselves).
 */
export function s16leToFloat(bytes: Uint8Array, out: Float32Array = new Float32Array(bytes.length >> 1)): Float32Array {
  const n = out.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true) / 32768;
  return out;
}

/** Float samples → s16le bytes (× 32768, rounded, clamped), as a 16-bit recording carries them. */
export function floatToS16le(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(clampS16(samples[i]! * 32768), 2 * i);
  return out;
}

/** Containers and codecs recognised by their first bytes. */
export type AudioContainer = 'wav' | 'mp3' | 'flac' | 'ogg' | 'mp4' | 'webm';

/** How many leading bytes {@link sniffContainer} needs to decide. */
export const SNIFF_BYTES = 12;

/**
 * The container a file starts with, from its magic bytes, or `null` for anything else (raw PCM
 * among it). WAV includes RIFX and RF64; MP3 is an ID3 tag or an MPEG audio frame sync;
 * MP4/M4A is an `ftyp` box; WebM/Matroska is its EBML header.
 */
export function sniffContainer(b: Uint8Array): AudioContainer | null {
  const ascii = (from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ['RIFF', 'RIFX', 'RF64'].includes(ascii(0, 4)) && ascii(8, 12) === 'WAVE') return 'wav';
  if (b.length >= 4 && ascii(0, 4) === 'fLaC') return 'flac';
  if (b.length >= 4 && ascii(0, 4) === 'OggS') return 'ogg';
  if (b.length >= 8 && ascii(4, 8) === 'ftyp') return 'mp4';
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'webm';
  if (b.length >= 3 && ascii(0, 3) === 'ID3') return 'mp3';
  // an MPEG-1/2 layer III frame: 11 sync bits, a valid version and layer, a bitrate that is not "bad"
  if (b.length >= 3 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x18) !== 0x08 && (b[1]! & 0x06) === 0x02 && (b[2]! & 0xf0) !== 0xf0) return 'mp3';
  return null;
}

/** True when the bytes start with a RIFF/WAVE header (RIFX and RF64 too). */
export function isWavHeader(b: Uint8Array): boolean {
  return sniffContainer(b) === 'wav';
}

/** True while `b` (shorter than a header) could still become a `RIFF`/`RIFX`/`RF64` header. */
export function couldBeWavPrefix(b: Uint8Array): boolean {
  const n = Math.min(b.length, 4);
  const head = String.fromCharCode(...b.subarray(0, n));
  return ['RIFF', 'RIFX', 'RF64'].some((tag) => tag.startsWith(head));
}
