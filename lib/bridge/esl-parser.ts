/** One ESL message: its headers, and its body when it has a `Content-Length`. */
export interface EslMessage {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface EslParserOptions {
  /** Longest header block; a peer that sends more without a blank line has it dropped. Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** Longest body kept; a longer one is skipped as it arrives, never buffered (its message comes with an empty body). Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Told about what was dropped or could not be parsed. */
  readonly onWarning?: (message: string) => void;
}

/**
 * Splits an Event Socket byte stream into messages: header lines `Name: value` ending in LF (CR
 * tolerated), a blank line, then `Content-Length` bytes of body when that header is present.
 * Bytes may arrive split anywhere, including inside a UTF-8 character of a body. Its memory is
 * bounded: an endless header block or an oversized body is dropped with a warning, and a
 * `Content-Length` that is not a byte count is ignored with a warning.
 */
export class EslParser {
  private buf: Buffer = Buffer.alloc(0);
  private pending: Record<string, string> | null = null;
  private need = 0;
  /** Body bytes still to be skipped (an oversized body). */
  private skip = 0;
  private readonly maxHeader: number;
  private readonly maxBody: number;
  private readonly warn: (message: string) => void;

  constructor(opts: EslParserOptions = {}) {
    this.maxHeader = opts.maxHeaderBytes ?? 64 * 1024;
    this.maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
    this.warn = opts.onWarning ?? (() => {});
  }

  /** Feeds bytes; returns the messages they complete. */
  push(chunk: Buffer): EslMessage[] {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: EslMessage[] = [];
    for (;;) {
      if (this.pending) {
        if (this.buf.length < this.need) break;
        out.push({ headers: this.pending, body: this.buf.subarray(0, this.need).toString('utf8') });
        this.buf = this.buf.subarray(this.need);
        this.pending = null;
        continue;
      }
      let lead = 0; // stray blank lines between messages
      while (lead < this.buf.length && (this.buf[lead] === 0x0a || this.buf[lead] === 0x0d)) lead++;
      if (lead) this.buf = this.buf.subarray(lead);
      const end = headerEnd(this.buf);
      if (end < 0) {
        if (this.buf.length > this.maxHeader) {
          this.warn(`dropped ${this.buf.length} bytes: no end of message headers within ${this.maxHeader} bytes`);
          this.buf = Buffer.alloc(0);
        }
        break;
      }
      const headers = parseHeaderBlock(this.buf.subarray(0, end).toString('utf8'));
      this.buf = this.buf.subarray(end + (this.buf[end] === 0x0d ? 4 : 2));
      const declared = headers['Content-Length'];
      const length = declared === undefined ? 0 : Number(declared);
      if (!Number.isSafeInteger(length) || length < 0) {
        this.warn(`ignored a message's Content-Length "${declared}" (not a byte count)`);
        out.push({ headers, body: '' });
      } else if (length > this.maxBody) {
        // the message is kept, without its body, so that replies still match their commands
        this.warn(`skipped a ${length}-byte message body (longer than ${this.maxBody} bytes)`);
        const n = Math.min(length, this.buf.length);
        this.skip = length - n;
        this.buf = this.buf.subarray(n);
        out.push({ headers, body: '' });
      } else if (length > 0) {
        this.pending = headers;
        this.need = length;
      } else out.push({ headers, body: '' });
    }
    // a consumed prefix must not pin the whole chunk it was cut from
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    return out;
  }
}

/** Index of the blank line ending a header block (`\n\n` or `\r\n\r\n`), or -1. */
function headerEnd(b: Buffer): number {
  for (let i = 0; i + 1 < b.length; i++) {
    if (b[i] === 0x0a && b[i + 1] === 0x0a) return i;
    if (b[i] === 0x0d && b[i + 1] === 0x0a && b[i + 2] === 0x0d && b[i + 3] === 0x0a) return i;
  }
  return -1;
}

/** `Name: value` lines → headers (values kept as sent; event bodies decode theirs). */
export function parseHeaderBlock(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    const colon = l.indexOf(':');
    if (colon <= 0) continue;
    headers[l.slice(0, colon)] = l.slice(colon + 1).trim();
  }
  return headers;
}
