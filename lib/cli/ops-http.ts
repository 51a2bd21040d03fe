import type { Registry } from 'prom-client';
import { createHttpServer, type HttpHandler, type HttpServer } from '../http/http-server.js';
import { healthRoutes, metricsRoute, type Readiness } from '../metrics/health-routes.js';
import type { Logger } from '../server/logger.js';

/** What `serve` and `bridge` put on `--http-port`. */
export interface OpsHttpOptions {
  readonly host: string;
  readonly port: number;
  /** `--http-token`: every route needs it. */
  readonly token?: string | undefined;
  readonly readiness: () => Readiness;
  readonly registry: Registry;
  /** The live page's routes. */
  readonly page: HttpHandler;
  readonly logger: Logger;
}

/** The operators' HTTP port: `/healthz`, `/readyz`, `/metrics` and the live page, behind the token. */
export function opsHttpServer(o: OpsHttpOptions): HttpServer {
  return createHttpServer({
    host: o.host,
    port: o.port,
    ...(o.token ? { token: o.token } : {}),
    handlers: [healthRoutes(o.readiness), metricsRoute(o.registry), o.page],
    logger: o.logger,
  });
}
