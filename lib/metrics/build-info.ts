import { Gauge, type Registry } from 'prom-client';

/** `simulstream_build_info{version,node} 1`, on the server's and the bridge's registries alike. */
export function registerBuildInfo(registry: Registry, version: string): void {
  new Gauge({ name: 'simulstream_build_info', help: "simulstream's version and Node.js (value 1)", labelNames: ['version', 'node'], registers: [registry] })
    .labels(version, process.versions.node)
    .set(1);
}
