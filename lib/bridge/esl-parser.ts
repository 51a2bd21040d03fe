/** One ESL message: its headers, and its body when it has a `Content-Length`. */
export interface EslMessage {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * Splits an Event Socket byte stream into messages: header lines `Name: value` ending in LF (CR
 * tolerated), a blank line, then `Content-Length` bytes of body when that header is present.
 * Bytes may arrive split anywhere, including inside a UTF-8 character of a body.
 */
export class EslParser {
  private buf: Buffer = Buffer.alloc(0);
  private pending: Record<string, string> | null = null;
  private need = 0;

  /** Feeds bytes; returns the messages they complete. */
  push(chunk: Buffer): EslMessage[] {
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
      if (end < 0) break;
      const headers = parseHeaderBlock(this.buf.subarray(0, end).toString('utf8'));
      this.buf = this.buf.subarray(end + (this.buf[end] === 0x0d ? 4 : 2));
      const length = Number(headers['Content-Length'] ?? 0);
      if (length > 0) {
        this.pending = headers;
        this.need = length;
      } else out.push({ headers, body: '' });
    }
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
