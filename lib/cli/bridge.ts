import net from 'node:net';
import { Command, Option } from 'commander';
import { createBridge } from '../bridge/bridge.js';
import { EslClient } from '../bridge/esl-client.js';
import { embeddedRecognizer, tcpRecognizer, type Recognizer } from '../bridge/recognizer.js';
import { InvalidOptionError, SimulstreamError } from '../errors.js';
import { createCallMonitor } from '../monitor/call-monitor.js';
import { defaultModelsDir, loadModel, type LoadedModel } from '../model/load-model.js';
import { BridgeMetrics } from '../metrics/bridge-metrics.js';
import type { Readiness } from '../metrics/health-routes.js';
import { LOG_LEVELS, type LogLevel } from '../server/logger.js';
import { cliLogger, logFormatOption, type LogFormat } from './log-options.js';
import { intArg } from './options.js';
import { opsArguments, opsPorts } from './ops-http.js';
import { packageVersion } from './version.js';
import { addPolicyOptions, policyOptions } from './policy-options.js';
import { checkModelOptions, modelByName } from './models.js';

/** The flags the HTTP port's rules name. */
import type { CliIo } from './transcribe.js';

/** `simulstream bridge`: live transcripts of FreeSWITCH calls. */
export function bridgeCommand(io: CliIo, signals = true): Command {
  const cmd = new Command('bridge')
    .description('transcribe FreeSWITCH calls live: uuid_record to a raw file, follow it, stream it to the recognizer, store the lines per call')
    .option('--esl-host <host>', 'FreeSWITCH event socket host', '127.0.0.1')
    .option('--esl-port <n>', 'FreeSWITCH event socket port', intArg(1, 65535), 8021)
    .addOption(new Option('--esl-password <pw>', 'FreeSWITCH event socket password (better: the environment variable, kept out of ps)').env('SIMULSTREAM_ESL_PASSWORD').default('ClueCon'))
    .option('--server <host:port,…>', 'the recognizer (simulstream serve or SimulStreaming\'s server); a comma-separated list to move a call to the next one when its server goes away', '127.0.0.1:43007')
    .option('--recognizer-retries <n>', 'reconnections in a row without a new line before a call\'s leg is given up', intArg(1, 1000), 8)
    .option('--embedded', 'run the recognizer in this process (with --model or --model_path)', false)
    .option('--model <name>', 'with --embedded: a catalog model, pulled on first use')
    .option('--model_path <file>', 'with --embedded: an OpenAI .pt or whisper.cpp ggml file')
    .option('--alignment_heads <spec>', 'with --embedded: alignment heads "layer,head;…"')
    .option('--models-dir <dir>', 'model cache')
    .option('--out-dir <dir>', 'one JSON Lines transcript per call', './transcripts')
    .option('--record-dir <dir>', 'where FreeSWITCH writes the recordings (it must be this machine\'s file system)', '/tmp')
    .addOption(new Option('--legs <legs>', 'mixed: both parties in one recording; both: caller and callee separately').choices(['mixed', 'both']).default('mixed'))
    .addOption(new Option('--record-rate <hz>', '16000: FreeSWITCH resamples; 8000: record at the codec\'s rate, the bridge resamples').choices(['16000', '8000']).default('16000'))
    .addOption(new Option('--direction <d>', 'with --auto: which answered channels to transcribe').choices(['inbound', 'outbound', 'any']).default('inbound'))
    .addOption(new Option('--capture <how>', 'record: uuid_record to a raw file the bridge follows; audio_stream: FreeSWITCH streams each call to the server\'s --ws-port with mod_audio_stream (no audio on disk)').choices(['record', 'audio_stream']).default('record'))
    .option('--ws-url <url>', 'with --capture audio_stream: the server\'s WebSocket port as FreeSWITCH reaches it (ws://host:port)')
    .addOption(new Option('--ws-token <token>', 'with --capture audio_stream: the server\'s --ws-token, sent by FreeSWITCH as Authorization: Bearer').env('SIMULSTREAM_WS_TOKEN'))
    .option('--keep-audio', 'keep the raw recordings after each call', false)
    .option('--events', 'send each line back into FreeSWITCH as a CUSTOM asr::transcript event', false)
    .option('--json-events', 'subscribe to events in JSON form instead of plain', false)
    .option('--test-connection', 'check the event socket login and the recognizer, then exit')
    .option('--uuid <uuid>', 'transcribe one call until it hangs up')
    .option('--auto', 'transcribe every answered call until stopped')
    .option('--test', 'place a call with originate to --test-destination and transcribe it')
    .option('--test-destination <dial>', 'with --test: what to originate to (e.g. loopback/9196)')
    .option('--http-port <n>', 'serve the live page, /healthz, /readyz and /metrics (Prometheus) on this port (0: any free port; default: off)', intArg(0, 65535))
    .option('--metrics-port <n>', 'serve /healthz, /readyz and /metrics only (no page, no token needed) on this port of --http-host', intArg(0, 65535))
    .option('--http-host <host>', 'with --http-port or --metrics-port: the address to bind', '127.0.0.1')
    .addOption(
      new Option('--http-token <token>', 'with --http-port: the live page and its transcript APIs need it, as "Authorization: Bearer TOKEN" or ?token=TOKEN (required when --http-host is not loopback; /healthz, /readyz, /metrics never need it)').env('SIMULSTREAM_HTTP_TOKEN'),
    )
    .addOption(new Option('-l, --log-level <level>', 'log level').choices([...LOG_LEVELS]).default('INFO'))
    .addOption(logFormatOption());
  addPolicyOptions(cmd);
  return cmd.action(async (o: Record<string, unknown>) => {
    const modes = ['testConnection', 'uuid', 'auto', 'test'].filter((m) => o[m]);
    if (modes.length !== 1) throw new InvalidOptionError('bridge', 'choose exactly one of --test-connection, --uuid UUID, --auto, --test');
    if (o.test && !o.testDestination) throw new InvalidOptionError('--test', 'needs --test-destination (e.g. loopback/9196)');
    // every usage error before anything starts (a model load, a connection)
    const policy = policyOptions(o);
    if (o.embedded && !o.model && !o.model_path) throw new InvalidOptionError('--embedded', 'needs --model NAME or --model_path FILE');
    checkModelOptions({ ...(o.embedded && o.model !== undefined ? { model: o.model as string } : {}), alignment_heads: o.alignment_heads });
    const ops = opsArguments(o, '--http-host');
    const log = cliLogger(o.logFormat as LogFormat, io.stderr, o.logLevel as LogLevel, 'bridge');
    const esl = { host: o.eslHost as string, port: o.eslPort as number, password: o.eslPassword as string };

    let lm: LoadedModel | undefined;
    let recognizer: Recognizer;
    if (o.embedded) {
      const modelsDir = (o.modelsDir as string | undefined) ?? defaultModelsDir();
      const file = o.model ? await modelByName(o.model as string, modelsDir, undefined, io) : (o.model_path as string);
      lm = await loadModel({ modelPath: file, cacheDir: modelsDir, ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}), log: (m) => log.info(m) });
      recognizer = embeddedRecognizer({ ...policy, model: lm });
    } else recognizer = tcpRecognizer(o.server as string);

    try {
      if (o.testConnection) {
        if (!(await testConnection(esl, recognizer, io))) throw new SimulstreamError('ERR_ESL_CONNECT', 'the connection test failed (see above)');
        return;
      }
      const metrics = !ops ? undefined : new BridgeMetrics({ version: packageVersion() });
      const monitor = o.httpPort === undefined ? undefined : createCallMonitor({ outDir: o.outDir as string });
      const bridge = createBridge({
        ...esl,
        recognizer,
        outDir: o.outDir as string,
        recordDir: o.recordDir as string,
        // a streamed call is stereo (caller and callee apart) unless --legs mixed says otherwise
        legs: (o.capture === 'audio_stream' && cmd.getOptionValueSource('legs') !== 'cli' ? 'both' : o.legs) as 'mixed' | 'both',
        capture: o.capture as 'record' | 'audio_stream',
        ...(o.wsUrl !== undefined ? { streamUrl: o.wsUrl as string } : {}),
        ...(o.wsToken !== undefined ? { streamToken: o.wsToken as string } : {}),
        recordRate: Number(o.recordRate) as 16000 | 8000,
        direction: o.direction as 'inbound' | 'outbound' | 'any',
        keepAudio: o.keepAudio as boolean,
        sendEvents: o.events as boolean,
        format: o.jsonEvents ? 'json' : 'plain',
        recognizerAttempts: o.recognizerRetries as number,
        logger: log,
        observers: [metrics, monitor?.bridgeObserver].filter((x) => x !== undefined),
      });
      const readiness = (): Readiness =>
        bridge.esl.connected ? { ready: true } : { ready: false, reason: `not connected to FreeSWITCH at ${esl.host}:${esl.port}` };
      // the HTTP port: health, metrics, the live page
      const http =
        ops && metrics
          ? opsPorts({ ...ops, readiness, registry: metrics.registry, page: monitor?.handler ?? (() => false), logger: log })
          : undefined;
      await http?.listen();
      // --auto is a service: SIGINT/SIGTERM end it, also while it waits for FreeSWITCH to come up
      let stopped: string | undefined;
      const stopping = new Promise<void>((resolve) => {
        if (!o.auto || !signals) return;
        const stop = (sig: string): void => {
          stopped = sig;
          log.info(`${sig}: finishing ${bridge.calls.size} call(s)`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      try {
        try {
          const connecting = bridge.connect({ retry: Boolean(o.auto) });
          await Promise.race([connecting, stopping.then(() => bridge.close())]);
          if (stopped) {
            await connecting.catch(() => undefined); // closed while waiting for FreeSWITCH: nothing to finish
            return;
          }
        } catch (err) {
          if (stopped) return;
          throw err;
        }
        log.info(`connected to FreeSWITCH at ${esl.host}:${esl.port}; recognizer ${recognizer.name}; transcripts in ${o.outDir as string}`);
        if (o.uuid || o.test) {
          const call = o.uuid ? await bridge.transcribeCall(o.uuid as string) : await bridge.testCall(o.testDestination as string);
          await call.done;
          if (call.failure) {
            await bridge.close();
            throw new SimulstreamError('ERR_CALL_NOT_TRANSCRIBED', `call ${call.call.uuid} could not be transcribed to its end: ${call.failure.message}`);
          }
        } else {
          await bridge.auto();
          log.info(`transcribing every answered ${o.direction === 'any' ? '' : `${o.direction as string} `}call until SIGTERM or SIGINT`);
          await stopping;
        }
        await bridge.close();
      } finally {
        monitor?.close();
        await http?.close();
      }
    } finally {
      await lm?.release();
    }
  });
}

/** Logs in, runs `status`, checks the recognizer accepts connections; prints one line each. */
async function testConnection(esl: { host: string; port: number; password: string }, recognizer: Recognizer, io: CliIo): Promise<boolean> {
  let ok = true;
  const client = new EslClient({ ...esl, reconnect: false, timeout: 5 });
  try {
    await client.connect();
    const status = await client.api('status');
    const ready = status.split('\n').find((l) => /ready/i.test(l))?.trim() ?? status.split('\n')[0]!.trim();
    io.stdout.write(`ESL ${esl.host}:${esl.port}: OK (logged in; ${ready})\n`);
  } catch (err) {
    ok = false;
    io.stdout.write(`ESL ${esl.host}:${esl.port}: FAILED (${(err as Error).message})\n`);
  } finally {
    await client.close();
  }
  try {
    const s = await recognizer.open();
    if (s instanceof net.Socket) s.destroy();
    else s.destroy();
    io.stdout.write(`recognizer ${recognizer.name}: OK (accepts connections)\n`);
  } catch (err) {
    ok = false;
    io.stdout.write(`recognizer ${recognizer.name}: FAILED (${(err as Error).message})\n`);
  }
  return ok;
}
