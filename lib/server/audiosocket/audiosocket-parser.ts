/** AudioSocket's message kinds (Asterisk's res_audiosocket). */
export const KIND = {
  hangup: 0x00,
  uuid: 0x01,
  dtmf: 0x03,
  /** Signed linear 8 kHz mono (the dialplan application's only format). */
  audio: 0x10,
  error: 0xff,
} as const;

/** Each audio kind's rate, since Asterisk PR 1492 (0x11 12 kHz … 0x18 192 kHz). */
export const AUDIO_RATES: Readonly<Record<number, number>> = {
  0x10: 8000,
  0x11: 12000,
  0x12: 16000,
  0x13: 24000,
  0x14: 32000,
  0x15: 44100,
  0x16: 48000,
  0x17: 96000,
  0x18: 192000,
};

/** One message: kind, payload. */
export interface AudioSocketMessage {
  readonly kind: number;
  readonly payload: Buffer;
}

/** Bytes of a message's header: kind, then the payload's length (big-endian). */
const HEADER = 3;

/**
 * AudioSocket's framing: 1 byte kind, 2 bytes big-endian payload length, the payload. Bytes are
 * pushed as TCP delivers them (any split); whole messages come out. A payload is at most 65 535
 * bytes, so at most one partial message (64 KiB) is ever held.
 */
export class AudioSocketParser {
  private held: Buffer = Buffer.alloc(0);

  /** The whole messages of what was pushed so far. */
  push(chunk: Buffer): AudioSocketMessage[] {
    let b = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const out: AudioSocketMessage[] = [];
    while (b.length >= HEADER) {
      const length = b.readUInt16BE(1);
      if (b.length < HEADER + length) break;
      out.push({ kind: b[0]!, payload: Buffer.from(b.subarray(HEADER, HEADER + length)) });
      b = b.subarray(HEADER + length);
    }
    this.held = Buffer.from(b);
    return out;
  }

  /**
   * At the end of the stream: what is left of a message cut short (its header said more bytes than
   * came), or null when the stream ended between messages.
   */
  end(): string | null {
    const b = this.held;
    this.held = Buffer.alloc(0);
    if (b.length === 0) return null;
    if (b.length < HEADER) return `the stream ended inside a message header (${b.length} of ${HEADER} bytes)`;
    return `a message of kind 0x${b[0]!.toString(16).padStart(2, '0')} declared ${b.readUInt16BE(1)} bytes of payload, but the stream ended after ${b.length - HEADER}`;
  }
}
