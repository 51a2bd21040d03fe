import type { Registry } from 'prom-client';
import type { HttpHandler } from '../http/http-server.js';

/** Whether the process should get new work, and if not, why (the body of a 503). */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } as const;

/**
 * `GET /healthz`: 200 while the process answers. `GET /readyz`: 200 when `ready()` says so, else
 * 503 with the reason (a load balancer's health check: no new calls to a full or loading server).
 */
export function healthRoutes(ready: () => Readiness): HttpHandler {
  return (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname === '/healthz') {
      res.writeHead(200, TEXT).end('ok\n');
      return true;
    }
    if (url.pathname === '/readyz') {
      const r = ready();
      if (r.ready) res.writeHead(200, TEXT).end('ready\n');
      else res.writeHead(503, TEXT).end(`not ready: ${r.reason}\n`);
      return true;
    }
    return false;
  };
}

/** `GET /metrics`: the registry in Prometheus' text format. */
export function metricsRoute(registry: Registry): HttpHandler {
  return async (req, res, url) => {
    if (url.pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body);
    return true;
  };
}
