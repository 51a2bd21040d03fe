/** What a WAV file's `fmt ` chunk says, and where its samples are. */
export interface WavLayout {
  /** `int` (PCM) or `float` (IEEE), WAVE_FORMAT_EXTENSIBLE resolved to its sub-format. */
  readonly encoding: 'int' | 'float';
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** Bytes per frame (one sample of every channel). */
  readonly blockAlign: number;
  /** Byte offset of the first sample (just after the `data` chunk's header). */
  readonly dataOffset: number;
  /**
   * Bytes of samples, or `undefined` when the header does not say (0 or 0xFFFFFFFF: a WAV written
   * to a pipe by arecord or ffmpeg, or RF64): then the samples run to the end of the input.
   */
  readonly dataBytes: number | undefined;
  /** Big-endian (`RIFX`). */
  readonly bigEndian: boolean;
}

/** The most header bytes read before the `data` chunk (LIST and other chunks included). */
export const MAX_WAV_HEADER = 1 << 20;

export type WavHeaderResult =
  | { readonly kind: 'layout'; readonly layout: WavLayout }
  | { readonly kind: 'need-more' }
  | { readonly kind: 'invalid'; readonly reason: string };

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Parses a RIFF/RIFX/RF64 WAVE header from the first bytes of a file: the `fmt ` chunk, then the
 * start of the `data` chunk (chunks between them are skipped). `need-more` when `head` ends before
 * the `data` chunk starts.
 */
export function parseWavHeader(head: Uint8Array): WavHeaderResult {
  const ascii = (at: number, n: number): string => String.fromCharCode(...head.subarray(at, at + n));
  if (head.length < 12) return { kind: 'need-more' };
  const riff = ascii(0, 4);
  if (!['RIFF', 'RIFX', 'RF64'].includes(riff) || ascii(8, 4) !== 'WAVE') return { kind: 'invalid', reason: 'no RIFF/WAVE header' };
  const bigEndian = riff === 'RIFX';
  const dv = new DataView(head.buffer, head.byteOffset, head.length);
  const u16 = (at: number): number => dv.getUint16(at, !bigEndian);
  const u32 = (at: number): number => dv.getUint32(at, !bigEndian);
  let fmt: Omit<WavLayout, 'dataOffset' | 'dataBytes' | 'bigEndian'> | undefined;
  let at = 12;
  for (;;) {
    if (at + 8 > head.length) return at > MAX_WAV_HEADER ? { kind: 'invalid', reason: `no data chunk in the first ${MAX_WAV_HEADER} bytes` } : { kind: 'need-more' };
    const id = ascii(at, 4);
    const size = u32(at + 4);
    const body = at + 8;
    if (id === 'data') {
      if (!fmt) return { kind: 'invalid', reason: 'the data chunk comes before the fmt chunk' };
      const known = size !== 0 && size !== 0xffffffff && riff !== 'RF64';
      return { kind: 'layout', layout: { ...fmt, dataOffset: body, dataBytes: known ? size : undefined, bigEndian } };
    }
    if (id === 'fmt ') {
      if (body + Math.min(size, 40) > head.length) return { kind: 'need-more' };
      if (size < 16) return { kind: 'invalid', reason: `fmt chunk of ${size} bytes` };
      let tag = u16(body);
      const channels = u16(body + 2);
      const sampleRate = u32(body + 4);
      const blockAlign = u16(body + 12);
      const bitsPerSample = u16(body + 14);
      if (tag === WAVE_FORMAT_EXTENSIBLE && size >= 40) tag = u16(body + 24); // the sub-format GUID's first two bytes
      if (tag !== WAVE_FORMAT_PCM && tag !== WAVE_FORMAT_IEEE_FLOAT) return { kind: 'invalid', reason: `format tag 0x${tag.toString(16)} (compressed WAV)` };
      const encoding = tag === WAVE_FORMAT_IEEE_FLOAT ? 'float' : 'int';
      const depths = encoding === 'float' ? [32, 64] : [8, 16, 24, 32];
      if (!depths.includes(bitsPerSample)) return { kind: 'invalid', reason: `${bitsPerSample}-bit ${encoding} samples` };
      if (channels < 1 || sampleRate < 1 || blockAlign !== channels * (bitsPerSample / 8)) {
        return { kind: 'invalid', reason: `a header that declares ${channels} channels at ${sampleRate} Hz, ${blockAlign} bytes per frame` };
      }
      fmt = { encoding, sampleRate, channels, bitsPerSample, blockAlign };
    }
    at = body + size + (size & 1); // chunks are padded to an even size
  }
}

/** `16 kHz mono 16-bit`, `8 kHz stereo 32-bit float`, for messages. */
export function describeLayout(l: WavLayout): string {
  const ch = l.channels === 1 ? 'mono' : l.channels === 2 ? 'stereo' : `${l.channels} channels`;
  return `${l.sampleRate / 1000} kHz ${ch} ${l.bitsPerSample}-bit${l.encoding === 'float' ? ' float' : ''}`;
}
