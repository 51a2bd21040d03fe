import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from './build-info.js';
import type { BridgeCall } from '../bridge/bridge-call.js';
import type { BridgeObserver } from '../bridge/observer.js';
import type { StoredLine } from '../bridge/transcript-store.js';

export interface BridgeMetricsOptions {
  /** Where the metrics are registered (default: a fresh registry, with the process metrics). */
  readonly registry?: Registry;
  /** simulstream's version, for `simulstream_build_info`. */
  readonly version: string;
}

/** The bridge's Prometheus metrics (`simulstream bridge --http-port`), fed as a {@link BridgeObserver}. */
export class BridgeMetrics implements BridgeObserver {
  readonly registry: Registry;
  private readonly finished: Counter;
  private readonly failed: Counter<'code'>;
  private readonly reconnects: Counter<'target'>;
  private readonly lines: Counter;
  /** Calls started and not yet ended. */
  private readonly open = new Set<string>();

  constructor(options: BridgeMetricsOptions) {
    const registry = options.registry ?? new Registry();
    if (!options.registry) collectDefaultMetrics({ register: registry });
    this.registry = registry;
    const registers = [registry];
    const open = this.open;
    new Gauge({
      name: 'simulstream_bridge_calls_active',
      help: 'Calls being transcribed now',
      registers,
      collect() {
        this.set(open.size);
      },
    });
    this.finished = new Counter({ name: 'simulstream_bridge_calls_finished_total', help: 'Calls whose transcription ended without error', registers });
    this.failed = new Counter({ name: 'simulstream_bridge_calls_failed_total', help: 'Calls whose transcription failed, by error code', labelNames: ['code'], registers });
    this.reconnects = new Counter({
      name: 'simulstream_bridge_reconnects_total',
      help: 'Connections that came back: FreeSWITCH\'s event socket, or a call\'s recognizer stream',
      labelNames: ['target'],
      registers,
    });
    this.lines = new Counter({ name: 'simulstream_bridge_lines_stored_total', help: 'Transcript lines stored', registers });
    registerBuildInfo(registry, options.version);
    this.reconnects.labels('freeswitch').inc(0);
    this.reconnects.labels('recognizer').inc(0);
  }

  callStarted(call: BridgeCall): void {
    this.open.add(call.call.uuid);
  }

  callEnded(call: BridgeCall, error?: { readonly code: string; readonly message: string }): void {
    this.open.delete(call.call.uuid);
    if (error) this.failed.labels(error.code).inc();
    else this.finished.inc();
  }

  lineStored(_line: StoredLine): void {
    this.lines.inc();
  }

  reconnected(target: 'freeswitch' | 'recognizer'): void {
    this.reconnects.labels(target).inc();
  }
}
