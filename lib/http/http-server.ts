import { timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError, SimulstreamError } from '../errors.js';
import { silentLogger, type Logger } from '../server/logger.js';

/**
 * One group of routes. Returns `true` when it answered the request, `false` to let the next
 * handler try. A handler that throws (or rejects) gets a 500 and a logged error; the server goes on.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface HttpServerOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /**
   * When set, every route of `handlers` needs it, as `Authorization: Bearer <token>` or
   * `?token=<token>`; anything else gets 401 (unknown paths too).
   */
  readonly token?: string;
  /** Routes that answer without the token, tried first (health checks, metrics: no transcript in them). */
  readonly open?: readonly HttpHandler[];
  /** Routes behind the token. */
  readonly handlers: readonly HttpHandler[];
  readonly logger?: Logger;
  /** Most simultaneous HTTP connections (event streams included). Default 256. */
  readonly maxConnections?: number;
}

export interface HttpServer {
  listen(): Promise<AddressInfo>;
  /** Stops accepting and closes every connection (event streams included). */
  close(): Promise<void>;
}

/** Whether a request carries the token (header or query), compared in constant time. */
export function hasToken(req: IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token');
  if (given === null || given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A small HTTP server for health, metrics and the live page: the open routes, then the token, the handlers in order, then 404. */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const log = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    void route(req, res);
  });
  server.maxConnections = options.maxConnections ?? 256;
  server.keepAliveTimeout = 5_000;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      for (const handle of options.open ?? []) if (await handle(req, res, url)) return;
      if (options.token !== undefined && !hasToken(req, url, options.token)) {
        res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' }).end('unauthorized\n');
        return;
      }
      for (const handle of options.handlers) if (await handle(req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    } catch (err) {
      log.error(`HTTP ${req.method ?? '?'} ${url.pathname}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end();
    }
  }

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          reject(
            err.code === 'EADDRINUSE'
              ? new SimulstreamError('ERR_ADDRESS_IN_USE', `Address already in use: ${host}:${options.port} (choose another --http-port)`)
              : err,
          );
        };
        const onListening = (): void => {
          server.off('error', onError);
          const a = server.address() as AddressInfo;
          log.info(`HTTP on http://${host}:${a.port}/`);
          resolve(a);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(options.port, host);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether an address to bind is this machine's loopback only (`localhost`, 127.0.0.0/8, `::1`). */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/u, '$1');
  return h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1' || /^127(\.\d{1,3}){3}$/u.test(h) || /^::ffff:127(\.\d{1,3}){3}$/u.test(h);
}

/**
 * The rule for a port that serves transcripts: bound beyond loopback, it needs a token (a caller's
 * words are not for whoever reaches the port). Throws the usage error that says so.
 */
export function requireTokenBeyondLoopback(host: string, token: string | undefined, flags: { host: string; token: string }): void {
  if (token || isLoopback(host)) return;
  throw new InvalidOptionError(
    flags.token,
    `the HTTP port on ${host} would publish every caller's live transcript to whoever reaches it: set ${flags.token} (or SIMULSTREAM_HTTP_TOKEN) or bind ${flags.host} to 127.0.0.1 (/healthz, /readyz and /metrics never need the token)`,
  );
}
