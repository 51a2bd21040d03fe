import type { EslMessage } from './esl-parser.js';
import { parseHeaderBlock } from './esl-parser.js';

/** A FreeSWITCH event, from its plain or JSON form. */
export interface EslEvent {
  /** `Event-Name` (`CHANNEL_ANSWER`, `CUSTOM`, …). */
  readonly name: string;
  /** Every header, URL-decoded (plain) or as sent (JSON). */
  readonly headers: Readonly<Record<string, string>>;
  /** The event's own body (`BACKGROUND_JOB` output, …), or ''. */
  readonly body: string;
}

/**
 * An event message (`text/event-plain` or `text/event-json`) → the event; null for other messages
 * and for an event that cannot be parsed (`warn` is told why). Never throws.
 */
export function parseEvent(msg: EslMessage, warn: (message: string) => void = () => {}): EslEvent | null {
  const type = msg.headers['Content-Type'];
  if (type === 'text/event-json') {
    let o: unknown;
    try {
      o = JSON.parse(msg.body);
    } catch (err) {
      warn(`skipped a JSON event that does not parse (${(err as Error).message}): ${msg.body.slice(0, 80)}`);
      return null;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      warn(`skipped a JSON event that is not an object: ${msg.body.slice(0, 80)}`);
      return null;
    }
    const headers: Record<string, string> = {};
    const fields = o as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) if (k !== '_body') headers[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return { name: headers['Event-Name'] ?? '', headers, body: typeof fields._body === 'string' ? fields._body : '' };
  }
  if (type !== 'text/event-plain') return null;
  const blank = msg.body.search(/\r?\n\r?\n/);
  const head = blank >= 0 ? msg.body.slice(0, blank) : msg.body;
  const raw = parseHeaderBlock(head);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) headers[k] = safeDecode(v);
  let body = '';
  const inner = Number(headers['Content-Length'] ?? 0);
  if (inner > 0 && blank >= 0) {
    const rest = Buffer.from(msg.body.slice(blank).replace(/^\r?\n\r?\n/, ''), 'utf8');
    body = rest.subarray(0, inner).toString('utf8');
  }
  return { name: headers['Event-Name'] ?? '', headers, body };
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v); // FreeSWITCH encodes spaces as %20; a '+' is a '+' (+33 numbers)
  } catch {
    return v;
  }
}

/** An event in plain form (what the tests' server and `sendevent` write): URL-encoded header lines, then the body. */
export function formatPlainEvent(headers: Record<string, string>, body = ''): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${encodeURIComponent(v)}`);
  if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\n')}\n\n${body}`;
}
