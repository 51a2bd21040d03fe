import http, { type IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { isSupportedRate } from '../../audio/model-rate.js';
import { DEFAULTS } from '../../defaults.js';
import { hasToken } from '../../http/http-server.js';
import type { CallContext, CallFormat, CallLayout } from '../calls/streamed-call.js';
import { listenOn, type DoorAddress, type FrontDoor } from '../front-door.js';
import type { StreamRegistry } from '../stream-registry.js';
import { AUDIO_FORK_SUBPROTOCOL, audioForkDialect } from './audio-fork.js';
import { audioStreamDialect } from './audio-stream.js';
import { jambonzDialect } from './jambonz.js';
import { serveWsCall, type WsDialect, type WsProtocol } from './ws-call.js';

export interface WsDoorOptions {
  /** `--ws-token`: required as `Authorization: Bearer …` or `?token=…` (401 without). */
  readonly token?: string;
  /** Largest frame accepted (default 1 MiB). */
  readonly maxFrameBytes?: number;
  /** The server's language, for a jambonz `start` that names none. */
  readonly language: string;
}

/** How long a client may take to send its handshake's headers. */
const HEADERS_TIMEOUT_MS = 10_000;

/** The paths and the protocol each serves. */
const PATHS: Readonly<Record<string, WsProtocol>> = { '/audio_stream': 'audio_stream', '/audio_fork': 'audio_fork', '/jambonz': 'jambonz' };

/** `?rate=` and `?mix=` of a mod_audio_stream or mod_audio_fork URL, or why they cannot be served. */
export function formatFromQuery(q: URLSearchParams): CallFormat | string {
  const rawRate = q.get('rate') ?? String(DEFAULTS.wsRate);
  const m = /^(\d+)(k?)$/i.exec(rawRate.trim());
  const rate = m ? Number(m[1]) * (m[2] ? 1000 : 1) : Number.NaN;
  if (!isSupportedRate(rate)) return `rate must be 8000 or 16000 (or another rate in Hz, 8k…192k), got "${rawRate}"`;
  const layout = q.get('mix') ?? DEFAULTS.wsMix;
  if (layout !== 'mono' && layout !== 'mixed' && layout !== 'stereo') return `mix must be mono, mixed or stereo, got "${layout}"`;
  return { rate, layout: layout as CallLayout };
}

/**
 * The switches' WebSocket port: each connection is one call, its protocol chosen by its path
 * (`/audio_stream`, `/audio_fork`, `/jambonz`; any path whose client offers the
 * `audio.drachtio.org` subprotocol is mod_audio_fork). Before the upgrade: 401 without the token,
 * 404 for another path, 400 for a URL that cannot be served, 503 past `--max-connections` (the
 * registry's, shared with every other front door) or while shutting down.
 */
export function wsDoor(at: DoorAddress, ctx: CallContext, registry: StreamRegistry, options: WsDoorOptions): FrontDoor {
  const { log } = ctx;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULTS.wsMaxFrameBytes;
  const sockets = new Set<Duplex>();
  const http_ = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS }, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'close' }).end('this port takes WebSocket calls: /audio_stream, /audio_fork, /jambonz\n');
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(AUDIO_FORK_SUBPROTOCOL) ? AUDIO_FORK_SUBPROTOCOL : false),
  });

  http_.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => log.debug(`WebSocket client socket: ${err.message}`));
    const s = socket as net.Socket;
    const peerAddress = `('${s.remoteAddress}', ${s.remotePort})`;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (options.token !== undefined && !hasToken(req, url, options.token)) {
      log.warning(`WebSocket client ${peerAddress}: no valid token for ${url.pathname}: refused (401)`);
      return answer(socket, 401, 'Unauthorized', 'a token is required: Authorization: Bearer TOKEN or ?token=TOKEN', { 'WWW-Authenticate': 'Bearer' });
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const protocol: WsProtocol | undefined = PATHS[url.pathname] ?? (offered.includes(AUDIO_FORK_SUBPROTOCOL) ? 'audio_fork' : undefined);
    if (!protocol) return answer(socket, 404, 'Not Found', `no such path: ${url.pathname} (use /audio_stream, /audio_fork or /jambonz)`);
    let dialect: WsDialect;
    if (protocol === 'jambonz') dialect = jambonzDialect(options.language);
    else {
      const format = formatFromQuery(url.searchParams);
      if (typeof format === 'string') return answer(socket, 400, 'Bad Request', format);
      dialect = protocol === 'audio_stream' ? audioStreamDialect(format) : audioForkDialect(format);
    }
    const peer = `${protocol} ${peerAddress}`;
    const place = registry.reserve(peer, protocol);
    if (typeof place === 'string') {
      const why = place === 'closing' ? 'the server is shutting down' : `the server is at its limit of ${registry.maxConnections} connections`;
      return answer(socket, 503, 'Service Unavailable', `${why}; try again later`, { 'Retry-After': '5' });
    }
    let taken = false;
    // a handshake that fails (ws answers it and destroys the socket) frees its place
    socket.once('close', () => {
      if (!taken) place.release();
    });
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      taken = true;
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      try {
        place.attach(serveWsCall(ws, peer, dialect, ctx, maxFrameBytes));
      } catch (err) {
        place.release();
        log.error(`Client ${peer}: ${err instanceof Error ? err.message : String(err)}`);
        ws.terminate();
      }
    });
  });

  /** An HTTP answer instead of the upgrade; the socket is closed. */
  function answer(socket: Duplex, status: number, text: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
    const lines = [`HTTP/1.1 ${status} ${text}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body) + 1}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}\n`);
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  return {
    listen: () => listenOn(http_, at, log),
    stop: () =>
      new Promise<void>((resolve) => {
        if (!http_.listening) return resolve();
        http_.close(() => resolve());
        http_.closeIdleConnections();
      }),
    destroySockets: () => {
      for (const s of sockets) s.destroy();
      http_.closeAllConnections();
    },
  };
}
