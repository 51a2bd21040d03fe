import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { readAudioFile } from '../audio/wav.js';
import { AlignAttSession } from '../decode/align-att.js';
import { SimulstreamError, StartupError } from '../errors.js';
import { defaultModelsDir, loadModel } from '../model/load-model.js';
import { LOG_LEVELS, createLogger, type LogLevel } from '../server/logger.js';
import { createServer } from '../server/server.js';
import { SileroVad } from '../vad/silero-vad.js';
import type { Precision } from '../model/whisper-graphs.js';
import { resolveModel } from './models.js';
import { floatArg, intArg } from './options.js';
import { addPolicyOptions, policyOptions } from './policy-options.js';
import type { CliIo } from './transcribe.js';

const NOT_WARMED = 'Whisper is not warmed up. The first chunk processing may take longer.';

/** `--model NAME`: a model already in the cache (either format), else pulled from the catalog. */
async function modelByName(name: string, dir: string, mirror: string | undefined, io: CliIo): Promise<string> {
  const hit = [`${name}.pt`, `ggml-${name}.bin`].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  return hit ?? resolveModel(name, { modelsDir: dir, ...(mirror ? { mirror } : {}) }, io);
}

export function serveCommand(io: CliIo, signals = true): Command {
  const cmd = new Command('serve')
    .description('SimulStreaming-compatible TCP server: raw s16le 16 kHz mono in, "start_ms end_ms text" lines out; many clients at once')
    .option('--host <host>', 'address to listen on', 'localhost')
    .option('--port <n>', 'TCP port', intArg(0, 65535), 43007)
    .option('--warmup-file <file>', 'a speech file whose first second is decoded at start so the first client is fast')
    .option('--model_path <file>', 'OpenAI .pt or whisper.cpp ggml model file', './large-v3.pt')
    .option('--model <name>', 'a catalog model by name (e.g. small, large-v3-turbo), pulled into the cache on first use')
    .option('--mirror <url>', 'with --model: a base URL serving the model files by name, instead of the official hosts')
    .addOption(new Option('--quantize <type>', '8-bit weights for the encoder and decoder matmuls (faster on CPU)').choices(['int8']))
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head" (default: the model\'s official ones)')
    .option('--models-dir <dir>', 'model and compiled-graph cache (default $SIMULSTREAM_MODELS or ~/.cache/simulstream)')
    .addOption(new Option('-l, --log-level <level>', 'log level').choices([...LOG_LEVELS]).default('DEBUG'))
    .option('--out-txt', 'output "start_ms end_ms text" lines (the default here)')
    .option('--json', 'output SimulStreaming\'s JSON objects instead of text lines', false)
    .option('--vac', 'voice activity control (Silero VAD): silence is not decoded, each utterance ends with a final pass', false)
    .option('--vac-chunk-size <s>', 'VAC chunk size (accepted for compatibility: the VAD always looks at every 32 ms)', floatArg(0.01, 1), 0.04)
    .option('--max-connections <n>', 'most simultaneous clients', intArg(1, 10000), 64)
    .option('--idle-timeout <s>', 'finish and close a client silent this long (0: never)', floatArg(0), 0)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (0 = one per core)', intArg(0, 256), 0)
    .addOption(new Option('--device <device>', 'execution provider').choices(['cpu', 'cuda']).default('cpu'));
  addPolicyOptions(cmd);
  return cmd.action(async (o: Record<string, unknown>) => {
    const policy = policyOptions(o);
    const log = createLogger(io.stderr, o.logLevel as LogLevel);
    // everything that can fail is checked before listening: exit code 2 and one line, never per connection
    const { lm, vad, server } = await startup(async () => {
      const cacheDir = (o.modelsDir as string | undefined) ?? defaultModelsDir();
      const modelPath = o.model ? await modelByName(o.model as string, cacheDir, o.mirror as string | undefined, io) : (o.model_path as string);
      if (o.warmupFile && !fs.existsSync(o.warmupFile as string)) {
        log.critical(`The warm up file is not available. ${NOT_WARMED}`);
        throw new SimulstreamError('ERR_WARMUP_FILE', `${o.warmupFile as string}: no such file`);
      }
      const lm = await loadModel({
        modelPath,
        cacheDir,
        ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
        device: o.device as 'cpu' | 'cuda',
        threads: o.threads as number,
        ...(o.quantize ? { precision: o.quantize as Precision } : {}),
        log: (m) => log.info(m),
        warn: (m) => log.warning(m),
      });
      let vad: SileroVad | undefined;
      try {
        vad = o.vac ? await SileroVad.load() : undefined;
        if (o.warmupFile) {
          const samples = readAudioFile(o.warmupFile as string).samples.subarray(0, 16000);
          await new AlignAttSession(lm, policy).finish(samples);
          log.info('Whisper is warmed up.');
        } else log.warning(NOT_WARMED);
        const server = createServer({
          ...policy,
          model: lm,
          host: o.host as string,
          port: o.port as number,
          format: o.json ? 'json' : 'text',
          maxConnections: o.maxConnections as number,
          idleTimeout: o.idleTimeout as number,
          logger: log,
          echo: io.stderr,
          ...(vad ? { vad } : {}),
        });
        return { lm, vad, server };
      } catch (err) {
        await Promise.all([lm.release(), vad?.release()]);
        throw err;
      }
    });
    try {
      await server.listen();
    } catch (err) {
      await Promise.all([lm.release(), vad?.release()]);
      throw err;
    }
    await new Promise<void>((resolve) => {
      const stop = (sig: string): void => {
        log.info(`${sig}: finishing ${server.connections} open stream(s)`);
        void server.close().then(resolve);
      };
      if (signals) {
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      }
    });
    await Promise.all([lm.release(), vad?.release()]);
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
