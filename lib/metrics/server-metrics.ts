import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BYTES_PER_SECOND } from '../audio/pcm.js';
import { registerBuildInfo } from './build-info.js';
import type { AlignAttUpdate } from '../decode/align-att.js';
import type { ServerObserver } from '../server/observer.js';
import type { Segment } from '../stream/utf8-carry.js';
import { RateWindow } from './rate-window.js';

/** The emission-lag buckets (seconds): fine around the 1-2 s a live caption needs, coarse beyond. */
export const LAG_BUCKETS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30] as const;
const QUEUE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

export interface ServerMetricsOptions {
  /** Where the metrics are registered (default: a fresh registry, with the process metrics). */
  readonly registry?: Registry;
  /** simulstream's version, for `simulstream_build_info`. */
  readonly version: string;
  /** The capacity given with `--max-streams`. */
  readonly maxStreams: number;
}

/** What `simulstream_model_info` says of the loaded model. */
export interface ModelInfo {
  readonly model: string;
  readonly device: string;
  readonly threads: number;
  readonly quantization: string;
}

/**
 * The server's Prometheus metrics (`simulstream serve --http-port`), fed as a {@link ServerObserver}
 * plus the model's encoder/decoder timings ({@link timedModel}). Names are `simulstream_*`.
 */
export class ServerMetrics implements ServerObserver {
  readonly registry: Registry;
  private readonly streamsOpen: Gauge;
  private readonly accepted: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly audioReceivedSeconds: Counter;
  private readonly audioDecoded: Counter;
  private readonly iterations: Counter;
  private readonly computeSeconds: Counter;
  private readonly modelSeconds: Counter<'stage'>;
  private readonly modelRuns: Counter<'stage'>;
  private readonly queueWait: Histogram;
  private readonly lag: Histogram;
  private readonly errors: Counter<'code'>;
  private readonly streamsClosed: Counter;
  private readonly loadSeconds: Gauge;
  private readonly modelInfo: Gauge<'model' | 'device' | 'threads' | 'quantization'>;
  private readonly rtf = new RateWindow(60);
  /** Per stream: seconds of its audio the policy had seen at its last iteration. */
  private readonly decodedUpTo = new Map<string, number>();

  constructor(options: ServerMetricsOptions) {
    const registry = options.registry ?? new Registry();
    if (!options.registry) collectDefaultMetrics({ register: registry });
    this.registry = registry;
    const registers = [registry];
    const rtf = this.rtf;
    this.streamsOpen = new Gauge({ name: 'simulstream_streams_open', help: 'Client streams open now', registers });
    new Gauge({ name: 'simulstream_streams_capacity', help: 'The capacity given with --max-streams (/readyz fails at it)', registers }).set(options.maxStreams);
    this.accepted = new Counter({ name: 'simulstream_connections_accepted_total', help: 'Client connections accepted', registers });
    this.refused = new Counter({
      name: 'simulstream_connections_refused_total',
      help: 'Client connections refused (capacity: --max-connections reached; closing: shutting down)',
      labelNames: ['reason'],
      registers,
    });
    this.streamsClosed = new Counter({ name: 'simulstream_streams_closed_total', help: 'Client streams ended (finished, failed or vanished)', registers });
    this.audioReceivedSeconds = new Counter({ name: 'simulstream_audio_received_seconds_total', help: 'Seconds of audio received from clients', registers });
    this.audioDecoded = new Counter({ name: 'simulstream_audio_decoded_seconds_total', help: 'Seconds of audio the policy has decoded', registers });
    this.iterations = new Counter({ name: 'simulstream_policy_iterations_total', help: 'AlignAtt policy iterations run', registers });
    this.computeSeconds = new Counter({ name: 'simulstream_iteration_seconds_total', help: 'Wall-clock seconds spent in policy iterations (queue wait excluded)', registers });
    this.modelSeconds = new Counter({ name: 'simulstream_model_seconds_total', help: 'Seconds spent in ONNX Runtime, by stage (encoder, decoder)', labelNames: ['stage'], registers });
    this.modelRuns = new Counter({ name: 'simulstream_model_runs_total', help: 'ONNX Runtime runs, by stage (encoder, decoder)', labelNames: ['stage'], registers });
    new Gauge({
      name: 'simulstream_real_time_factor',
      help: 'Iteration compute seconds per second of audio decoded, over the last minute (1 / this ≈ streams one server keeps real-time)',
      registers,
      collect() {
        this.set(rtf.ratio());
      },
    });
    this.queueWait = new Histogram({ name: 'simulstream_queue_wait_seconds', help: 'How long an iteration waited for the model', buckets: [...QUEUE_BUCKETS], registers });
    this.lag = new Histogram({
      name: 'simulstream_emission_lag_seconds',
      help: 'A line\'s emission minus when the audio up to its last word arrived (bench:server\'s definition)',
      buckets: [...LAG_BUCKETS],
      registers,
    });
    this.errors = new Counter({ name: 'simulstream_stream_errors_total', help: 'Client streams that ended on an error, by its code', labelNames: ['code'], registers });
    this.loadSeconds = new Gauge({ name: 'simulstream_model_load_seconds', help: 'Seconds the model took to load (compile included on first use)', registers });
    this.modelInfo = new Gauge({
      name: 'simulstream_model_info',
      help: 'The loaded model (value 1)',
      labelNames: ['model', 'device', 'threads', 'quantization'],
      registers,
    });
    registerBuildInfo(registry, options.version);
    // the label sets alerts look for exist from the start, at 0
    this.refused.labels('capacity').inc(0);
    this.refused.labels('closing').inc(0);
    this.modelSeconds.labels('encoder').inc(0);
    this.modelSeconds.labels('decoder').inc(0);
    this.modelRuns.labels('encoder').inc(0);
    this.modelRuns.labels('decoder').inc(0);
  }

  /** The model is loaded: how long it took and what it is. */
  modelLoaded(seconds: number, info: ModelInfo): void {
    this.loadSeconds.set(seconds);
    this.modelInfo.labels(info.model, info.device, String(info.threads), info.quantization).set(1);
  }

  /** One ONNX Runtime run (see {@link timedModel}). */
  modelRun(stage: 'encoder' | 'decoder', seconds: number): void {
    this.modelSeconds.labels(stage).inc(seconds);
    this.modelRuns.labels(stage).inc();
  }

  connectionAccepted(peer: string): void {
    this.accepted.inc();
    this.streamsOpen.inc();
    this.decodedUpTo.set(peer, 0);
  }

  connectionRefused(_peer: string, reason: 'capacity' | 'closing'): void {
    this.refused.labels(reason).inc();
  }

  audioReceived(_peer: string, bytes: number): void {
    this.audioReceivedSeconds.inc(bytes / BYTES_PER_SECOND);
  }

  iteration(peer: string, update: AlignAttUpdate, queueMs: number): void {
    const before = this.decodedUpTo.get(peer) ?? 0;
    const decoded = Math.max(0, update.audioEnd - before);
    this.decodedUpTo.set(peer, Math.max(before, update.audioEnd));
    this.iterations.inc();
    if (decoded > 0) this.audioDecoded.inc(decoded);
    this.computeSeconds.inc(update.computeMs / 1000);
    this.rtf.add(update.computeMs / 1000, decoded);
    this.queueWait.observe(queueMs / 1000);
  }

  segment(_peer: string, _segment: Segment, lagSeconds: number): void {
    if (Number.isFinite(lagSeconds)) this.lag.observe(Math.max(0, lagSeconds));
  }

  streamClosed(peer: string, error?: { readonly code: string; readonly message: string }): void {
    this.streamsOpen.dec();
    this.streamsClosed.inc();
    this.decodedUpTo.delete(peer);
    if (error) this.errors.labels(error.code).inc();
  }
}
