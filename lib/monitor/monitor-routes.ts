import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from '../http/http-server.js';
import type { FinishedCalls } from './day-calls.js';
import type { EventHub } from './event-hub.js';
import type { LiveCalls } from './live-calls.js';
import { SAFE_HEADERS, type AssetName, type PageAssets } from './page-assets.js';
import type { CallTranscript } from './call-events.js';

export interface MonitorRoutesOptions {
  readonly assets: PageAssets;
  readonly hub: EventHub;
  readonly live: LiveCalls;
  /** The day's finished calls (from the transcript store, or kept in memory). */
  readonly finished: FinishedCalls;
  /** A call's transcript (live or finished), or null when there is none. */
  readonly transcript: (uuid: string) => Promise<CallTranscript | null>;
  /** The event-stream channel of the list of calls, and of one call. */
  readonly channels: { readonly calls: string; readonly call: (uuid: string) => string };
}

const ASSETS: Readonly<Record<string, AssetName>> = { '/': 'index.html', '/index.html': 'index.html', '/live.js': 'live.js', '/live.css': 'live.css' };

/**
 * The live page's routes:
 * - `GET /` the page, `/live.js`, `/live.css` its script and style;
 * - `GET /events` the list of live calls as Server-Sent Events (`snapshot`, `start`, `update`, `end`);
 * - `GET /events?call=UUID` one call's lines as they arrive (`line`, then `end`);
 * - `GET /api/calls` the live calls; `GET /api/calls/UUID` a call's transcript;
 * - `GET /api/day?q=…` the day's finished calls, searched by number or words.
 * Anything else is left to the next handler.
 */
export function monitorRoutes(o: MonitorRoutesOptions): HttpHandler {
  return async (req, res, url) => {
    const p = url.pathname;
    const asset = ASSETS[p];
    const known = asset !== undefined || p === '/events' || p === '/api/calls' || p === '/api/day' || p.startsWith('/api/calls/');
    if (!known) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SAFE_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return true;
    }
    if (asset) {
      o.assets.send(res, asset, url.searchParams.get('token'), req.method === 'HEAD');
      return true;
    }
    if (p === '/events') {
      const call = url.searchParams.get('call');
      o.hub.subscribe(req, res, call === null ? o.channels.calls : o.channels.call(call), SAFE_HEADERS);
      return true;
    }
    if (p === '/api/calls') {
      json(req, res, 200, { now: new Date().toISOString(), calls: o.live.list() });
      return true;
    }
    if (p === '/api/day') {
      json(req, res, 200, await o.finished.list((url.searchParams.get('q') ?? '').slice(0, 200), new Set(o.live.list().map((c) => c.uuid))));
      return true;
    }
    const uuid = safeDecode(p.slice('/api/calls/'.length));
    const t = uuid ? await o.transcript(uuid) : null;
    if (t) json(req, res, 200, t);
    else json(req, res, 404, { error: 'no such call' });
    return true;
  };
}

function json(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...SAFE_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A path segment decoded; '' when it is not valid percent-encoding (then the call is not found). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return ''; // malformed escape: no call has that name
  }
}
