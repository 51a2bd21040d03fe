import type { Registry } from 'prom-client';
import { InvalidOptionError } from '../errors.js';
import { createHttpServer, requireTokenBeyondLoopback, type HttpHandler, type HttpServer } from '../http/http-server.js';
import { healthRoutes, metricsRoute, type Readiness } from '../metrics/health-routes.js';
import type { Logger } from '../server/logger.js';

/** What `serve` and `bridge` put on their operators' ports. */
export interface OpsHttpOptions {
  readonly host: string;
  /** `--http-port`: health, metrics and the live page. */
  readonly httpPort?: number | undefined;
  /** `--metrics-port`: health and metrics only (no page, no token: for load balancers and scrapers on any address). */
  readonly metricsPort?: number | undefined;
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

/** A command's ops-port flags as parsed: the part of {@link OpsHttpOptions} the command line gives. */
export type OpsArguments = Pick<OpsHttpOptions, 'host' | 'httpPort' | 'metricsPort' | 'token' | 'flags'>;

/**
 * Reads `--http-port`, `--metrics-port`, `--http-token` and the command's host flag (`--host` for
 * `serve`, `--http-host` for `bridge`) from its parsed options, and checks at once, before
 * anything starts, that a page bound beyond loopback has its token. Undefined when neither port is
 * asked for.
 */
export function opsArguments(o: Record<string, unknown>, hostFlag: '--host' | '--http-host'): OpsArguments | undefined {
  const args: OpsArguments = {
    host: o[hostFlag === '--host' ? 'host' : 'httpHost'] as string,
    httpPort: o.httpPort as number | undefined,
    metricsPort: o.metricsPort as number | undefined,
    token: o.httpToken as string | undefined,
    flags: { host: hostFlag, token: '--http-token' },
  };
  if (args.httpPort !== undefined) requireTokenBeyondLoopback(args.host, args.token, args.flags);
  return args.httpPort !== undefined || args.metricsPort !== undefined ? args : undefined;
}

/** The ports, started and stopped together. */
export interface OpsPorts {
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The operators' HTTP ports. `--http-port`: `/healthz`, `/readyz` and `/metrics` open to every
 * load balancer and scraper (no transcript in them), the live page and its transcript APIs behind
 * the token, which is required when the port is bound beyond loopback (a usage error otherwise,
 * thrown here before anything listens). `--metrics-port`: the open routes alone.
 */
export function opsPorts(o: OpsHttpOptions): OpsPorts {
  const open = [healthRoutes(o.readiness), metricsRoute(o.registry)];
  const servers: HttpServer[] = [];
  if (o.httpPort !== undefined) {
    requireTokenBeyondLoopback(o.host, o.token, o.flags);
    if (o.httpPort !== 0 && o.httpPort === o.metricsPort) throw new InvalidOptionError('--metrics-port', `${o.metricsPort} is also --http-port: give two ports, or --http-port alone (it serves the health routes too)`);
    servers.push(createHttpServer({ host: o.host, port: o.httpPort, ...(o.token ? { token: o.token } : {}), open, handlers: [o.page], logger: o.logger }));
  }
  if (o.metricsPort !== undefined) servers.push(createHttpServer({ host: o.host, port: o.metricsPort, open, handlers: [], logger: o.logger }));
  return {
    listen: async () => {
      for (const s of servers) await s.listen();
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
