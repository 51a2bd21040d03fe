import type { Registry } from 'prom-client';
import { createHttpServer, requireTokenBeyondLoopback, type HttpHandler, type HttpServer } from '../http/http-server.js';
import { healthRoutes, metricsRoute, type Readiness } from '../metrics/health-routes.js';
import type { Logger } from '../server/logger.js';

/** What `serve` and `bridge` put on `--http-port`. */
export interface OpsHttpOptions {
  readonly host: string;
  readonly port: number;
  /** `--http-token`: the page and its APIs need it. */
  readonly token?: string | undefined;
  readonly readiness: () => Readiness;
  readonly registry: Registry;
  /** The live page's routes. */
  readonly page: HttpHandler;
  readonly logger: Logger;
  /** The flags that set host and token, for the error message. */
  readonly flags: { readonly host: string; readonly token: string };
}

/**
 * The operators' HTTP port: `/healthz`, `/readyz` and `/metrics` open to every load balancer and
 * scraper (no transcript in them), the live page and its transcript APIs behind the token, which
 * is required when the port is bound beyond loopback (a usage error otherwise, thrown here before
 * anything listens).
 */
export function opsHttpServer(o: OpsHttpOptions): HttpServer {
  requireTokenBeyondLoopback(o.host, o.token, o.flags);
  return createHttpServer({
    host: o.host,
    port: o.port,
    ...(o.token ? { token: o.token } : {}),
    open: [healthRoutes(o.readiness), metricsRoute(o.registry)],
    handlers: [o.page],
    logger: o.logger,
  });
}
