import os from 'node:os';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { Command, Option } from 'commander';
import { readAudioFile } from '../audio/wav.js';
import { AlignAttSession } from '../decode/align-att.js';
import { DEFAULTS } from '../defaults.js';
import { SimulstreamError, StartupError } from '../errors.js';
import { defaultModelsDir, loadModel } from '../model/load-model.js';
import type { Readiness } from '../metrics/health-routes.js';
import { ServerMetrics } from '../metrics/server-metrics.js';
import { timedModel } from '../metrics/timed-model.js';
import { createCallMonitor } from '../monitor/call-monitor.js';
import { serverStreamsObserver } from '../monitor/server-streams.js';
import { LOG_LEVELS, withContext, type LogLevel, type Logger } from '../server/logger.js';
import { createServer, type SimulstreamServer } from '../server/server.js';
import { threadsPerWorker } from '../server/workers/transcriber-pool.js';
import type { Chunking } from '../stream/chunk-buffer.js';
import { SileroVad } from '../vad/silero-vad.js';
import type { Precision } from '../model/whisper-graphs.js';
import { checkModelOptions, mirrorOption, modelByName } from './models.js';
import { cliLogger, logFormatOption, type LogFormat } from './log-options.js';
import { floatArg, intArg } from './options.js';
import { opsArguments, opsPorts } from './ops-http.js';
import { packageVersion } from './version.js';
import { addPolicyOptions, policyOptions } from './policy-options.js';
import type { CliIo } from './transcribe.js';
import { addSwitchOptions, switchOptions } from './switch-options.js';

const NOT_WARMED = 'Whisper is not warmed up. The first chunk processing may take longer.';
/** The flags the HTTP port's rules name. */

export function serveCommand(io: CliIo, signals = true): Command {
  const cmd = new Command('serve')
    .description('SimulStreaming-compatible TCP server: raw s16le 16 kHz mono in, "start_ms end_ms text" lines out; many clients at once')
    .option('--host <host>', 'address to listen on', DEFAULTS.host)
    .option('--port <n>', 'TCP port', intArg(0, 65535), DEFAULTS.port)
    .option('--warmup-file <file>', 'a speech file whose first second is decoded at start so the first client is fast')
    .option('--model_path <file>', 'OpenAI .pt or whisper.cpp ggml model file', './large-v3.pt')
    .option('--model <name>', 'a catalog model by name (e.g. small, large-v3-turbo), pulled into the cache on first use')
    .addOption(mirrorOption())
    .addOption(new Option('--quantize <type>', '8-bit weights for the encoder and decoder matmuls (faster on CPU)').choices(['int8']))
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head" (default: the model\'s official ones)')
    .option('--models-dir <dir>', 'model and compiled-graph cache (default $SIMULSTREAM_MODELS or ~/.cache/simulstream)')
    .addOption(new Option('-l, --log-level <level>', 'log level').choices([...LOG_LEVELS]).default('DEBUG'))
    .addOption(logFormatOption())
    .option('--out-txt', 'output "start_ms end_ms text" lines (the default here)')
    .option('--json', 'output SimulStreaming\'s JSON objects instead of text lines', false)
    .option('--vac', 'voice activity control (Silero VAD): silence is not decoded, each utterance ends with a final pass', false)
    .option('--vac-chunk-size <s>', 'VAC chunk size (accepted for compatibility: the VAD always looks at every 32 ms)', floatArg(0.01, 1), DEFAULTS.vacChunkSize)
    .option('--max-connections <n>', 'most simultaneous clients; more are refused', intArg(1, 10000), DEFAULTS.maxConnections)
    .option('--max-streams <n>', 'the capacity: /readyz answers 503 from this many open streams on (default: --max-connections)', intArg(1, 10000))
    .option('--http-port <n>', 'serve /healthz, /readyz, /metrics (Prometheus) and the live page on this port of --host (0: any free port; default: off)', intArg(0, 65535))
    .option('--metrics-port <n>', 'serve /healthz, /readyz and /metrics only (no page, no token needed) on this port of --host: for load balancers and scrapers', intArg(0, 65535))
    .addOption(
      new Option('--http-token <token>', 'with --http-port: the live page and its transcript APIs need it, as "Authorization: Bearer TOKEN" or ?token=TOKEN (required when --host is not loopback; /healthz, /readyz, /metrics never need it)').env('SIMULSTREAM_HTTP_TOKEN'),
    )
    .option('--idle-timeout <s>', 'finish and close a client silent this long (0: never)', floatArg(0), DEFAULTS.idleTimeout)
    .option('--drain-timeout <s>', 'on SIGTERM/SIGINT: seconds open streams may go on (no new ones, /readyz 503) before their final pass is forced', floatArg(0), DEFAULTS.drainTimeout)
    .option('--final-pass', 'at the end of a stream, decode what is left with a frame threshold of 4 (default; SimulStreaming\'s server drops it)')
    .option('--no-final-pass', 'no final pass: the last chunk is an ordinary iteration')
    .option('--catch-up', 'a real-time client that fell behind has its waiting chunks decoded as one iteration (default; SimulStreaming: one per chunk)')
    .option('--no-catch-up', 'one iteration per chunk, however far behind')
    .addOption(
      new Option('--chunking <mode>', "where chunks end: exact (every --min-chunk-size) or simulstreaming (its file loop's cut points, to compare with its output)")
        .choices(['exact', 'simulstreaming'])
        .default('exact'),
    )
    .option('--threads <n>', 'ONNX Runtime intra-op threads (0 = one per core, or with --workers cores / workers per thread)', intArg(0, 256), 0)
    .option('--workers <n>', 'worker threads running the streams, each with its own ONNX Runtime sessions (0: this thread; more calls per machine with short iterations: see the README)', intArg(0, 64), 0)
    .addOption(new Option('--device <device>', 'execution provider').choices(['cpu', 'cuda']).default('cpu'));
  addSwitchOptions(cmd);
  addPolicyOptions(cmd);
  return cmd.action(async (o: Record<string, unknown>) => {
    const given = (key: string): boolean => cmd.getOptionValueSource(key) === 'cli';
    // every usage error before anything starts: exit 2, one line
    const policy = policyOptions(o, given);
    checkModelOptions({ ...(o.model !== undefined ? { model: o.model as string } : {}), ...(o.mirror !== undefined ? { mirror: o.mirror as string } : {}), alignment_heads: o.alignment_heads });
    const ops = opsArguments(o, '--host');
    if (o.warmupFile && !fs.existsSync(o.warmupFile as string)) {
      throw new SimulstreamError('ERR_WARMUP_FILE', `--warmup-file: ${o.warmupFile as string}: no such file (the warm up file is not available)`);
    }
    // our differences from SimulStreaming's server: on, unless turned off or --compat simulstreaming
    const serverDifference = (key: string): boolean => (given(key) ? o[key] !== false : o.compat !== 'simulstreaming');
    const log = cliLogger(o.logFormat as LogFormat, io.stderr, o.logLevel as LogLevel, 'whisper_server');
    const maxStreams = (o.maxStreams as number | undefined) ?? (o.maxConnections as number);
    const metrics = !ops ? undefined : new ServerMetrics({ version: packageVersion(), maxStreams });
    const monitor = o.httpPort === undefined ? undefined : createCallMonitor();
    let server: SimulstreamServer | undefined;
    let closing = false;
    const readiness = (): Readiness => {
      if (closing) return { ready: false, reason: 'shutting down' };
      if (!server) return { ready: false, reason: 'loading the model' };
      if (server.connections >= maxStreams) return { ready: false, reason: `${server.connections} streams open, capacity ${maxStreams}` };
      return { ready: true };
    };
    // the HTTP ports: health, metrics, the live page;
    // up before the model loads, so that /healthz answers during a long load
    const http =
      ops && metrics
        ? opsPorts({ ...ops, readiness, registry: metrics.registry, page: monitor?.handler ?? (() => false), logger: log })
        : undefined;
    await http?.listen();
    try {
      // everything that can fail is checked before listening: exit code 2 and one line, never per connection
      const { lm, vad, srv } = await startup(async () => {
        const cacheDir = (o.modelsDir as string | undefined) ?? defaultModelsDir();
        const modelPath = o.model ? await modelByName(o.model as string, cacheDir, o.mirror as string | undefined, io) : (o.model_path as string);
        const loadStarted = performance.now();
        const loaded = await loadModel({
          modelPath,
          cacheDir,
          ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
          device: o.device as 'cpu' | 'cuda',
          threads: o.threads as number,
          ...(o.quantize ? { precision: o.quantize as Precision } : {}),
          log: (m) => log.info(m),
          warn: (m) => log.warning(m),
        });
        const lm = metrics ? timedModel(loaded, (stage, s) => metrics.modelRun(stage, s)) : loaded;
        let vad: SileroVad | undefined;
        try {
          const config = {
            model: modelPath,
            device: lm.model.device,
            threads: o.workers ? threadsPerWorker(o.workers as number, o.threads as number) : (o.threads as number) || os.availableParallelism(),
            workers: o.workers as number,
            quantization: (o.quantize as string | undefined) ?? 'none',
            max_streams: maxStreams,
            max_connections: o.maxConnections as number,
          };
          metrics?.modelLoaded((performance.now() - loadStarted) / 1000, config);
          withContext(log, config).info(
            `Configuration: model ${config.model}, device ${config.device}, ${config.workers ? `${config.workers} worker threads of ${config.threads} threads` : `${config.threads} threads`}, quantization ${config.quantization}, capacity ${maxStreams} streams (--max-streams), at most ${config.max_connections} connections`,
          );
          vad = o.vac ? await SileroVad.load() : undefined;
          if (o.warmupFile) {
            const samples = readAudioFile(o.warmupFile as string).samples.subarray(0, 16000);
            await new AlignAttSession(lm, policy).finish(samples);
            log.info('Whisper is warmed up.');
          } else log.warning(NOT_WARMED);
          const srv = createServer({
            ...policy,
            model: lm,
            host: o.host as string,
            port: o.port as number,
            format: o.json ? 'json' : 'text',
            maxConnections: o.maxConnections as number,
            idleTimeout: o.idleTimeout as number,
            finalPass: serverDifference('finalPass'),
            catchUp: serverDifference('catchUp'),
            chunking: o.chunking as Chunking,
            ...(o.workers ? { workers: o.workers as number } : {}),
            logger: log,
            // the lines SimulStreaming echoes on stderr; in JSON logs, as debug records
            echo: o.logFormat === 'json' ? logWriter(log) : io.stderr,
            ...(vad ? { vad } : {}),
            observers: [metrics, monitor && serverStreamsObserver(monitor)].filter((x) => x !== undefined),
            ...switchOptions(o),
          });
          return { lm, vad, srv };
        } catch (err) {
          await Promise.all([lm.release(), vad?.release()]);
          throw err;
        }
      });
      try {
        await srv.listen();
        server = srv;
      } catch (err) {
        await Promise.all([lm.release(), vad?.release()]);
        throw err;
      }
      // SIGTERM/SIGINT: drain (no new streams, /readyz 503, open ones go on until their clients end
      // them or --drain-timeout passes, then their final pass); a second signal ends them now
      const drainTimeout = o.drainTimeout as number;
      const onSignal: ((sig: NodeJS.Signals) => void)[] = [];
      await new Promise<void>((resolve, reject) => {
        let signalled = 0;
        const stop = (sig: NodeJS.Signals): void => {
          closing = true;
          if (signalled++ === 0) {
            log.info(`${sig}: no new streams; ${srv.connections} open stream(s) may go on for up to ${drainTimeout} s (--drain-timeout), then their final pass`);
            srv.close({ drainTimeout }).then(resolve, reject);
          } else {
            log.info(`${sig} again: finishing ${srv.connections} open stream(s) now`);
            srv.close({ drainTimeout: 0 }).catch(reject);
          }
        };
        if (signals) {
          onSignal.push(stop);
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        }
      }).finally(() => {
        for (const f of onSignal) process.off('SIGINT', f).off('SIGTERM', f);
      });
      await Promise.all([lm.release(), vad?.release()]);
    } finally {
      monitor?.close();
      await http?.close();
    }
  });
}

/** A stream whose every write is a debug record (the echoed transcript lines, in JSON logs). */
function logWriter(log: Logger): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, done) {
      log.debug(String(chunk).trimEnd());
      done();
    },
  });
}

/** Runs the start-up steps; a simulstream error in them (options, model, language) becomes a {@link StartupError}. */
async function startup<T>(steps: () => Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (err) {
    throw err instanceof SimulstreamError && !(err instanceof StartupError) ? new StartupError(err) : err;
  }
}
