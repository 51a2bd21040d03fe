import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';

/** One `start_ms end_ms text` line from the recognizer. */
export interface TranscriptLine {
  readonly startMs: number;
  readonly endMs: number;
  /** As sent (usually with a leading space). */
  readonly text: string;
}

/** `start_ms end_ms text` → {startMs, endMs, text}; null for anything else. */
export function parseTranscriptLine(line: string): TranscriptLine | null {
  const m = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (.*)$/su.exec(line);
  return m ? { startMs: Number(m[1]), endMs: Number(m[2]), text: m[3]! } : null;
}

/**
 * Recognizer bytes → transcript lines. A UTF-8 character split between reads is carried to the
 * next read; a last line without its newline is still parsed at the end.
 */
export class TranscriptLineParser extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending += this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      this.emitLine(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.pending += this.decoder.end();
    if (this.pending) this.emitLine(this.pending);
    done();
  }

  private emitLine(s: string): void {
    const line = parseTranscriptLine(s.replace(/\r$/, ''));
    if (line) this.push(line);
  }
}
