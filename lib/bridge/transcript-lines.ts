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
 * next read; a last line without its newline is still parsed at the end. What is not a line is
 * skipped with a `warning` event (an `Error`), and so is a line longer than `maxLineLength`
 * characters (a peer that never sends a newline): memory stays bounded.
 */
export class TranscriptLineParser extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  /** Inside an over-long line: drop until its newline. */
  private dropping = false;

  constructor(private readonly maxLineLength = 64 * 1024) {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending += this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      if (this.dropping) this.dropping = false;
      else this.emitLine(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
    }
    if (this.pending.length > this.maxLineLength) {
      if (!this.dropping) this.emit('warning', new Error(`skipped a recognizer line longer than ${this.maxLineLength} characters`));
      this.dropping = true;
      this.pending = '';
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.pending += this.decoder.end();
    if (this.pending && !this.dropping) this.emitLine(this.pending);
    done();
  }

  private emitLine(s: string): void {
    const text = s.replace(/\r$/, '');
    const line = parseTranscriptLine(text);
    if (line) this.push(line);
    else if (text.trim() !== '') this.emit('warning', new Error(`skipped a recognizer line that is not "start_ms end_ms text": ${text.slice(0, 80)}`));
  }
}
