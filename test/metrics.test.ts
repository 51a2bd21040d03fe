import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createBridge } from '../lib/bridge/bridge.js';
import { buildCli } from '../lib/cli/main.js';
import type { SimulstreamError } from '../lib/errors.js';
import { isLoopback, requireTokenBeyondLoopback } from '../lib/http/http-server.js';
import { tcpRecognizer } from '../lib/bridge/recognizer.js';
import { readTranscript } from '../lib/bridge/transcript-store.js';
import { createHttpServer, type HttpServer } from '../lib/http/http-server.js';
import { BridgeMetrics } from '../lib/metrics/bridge-metrics.js';
import { healthRoutes, metricsRoute, type Readiness } from '../lib/metrics/health-routes.js';
import { RateWindow } from '../lib/metrics/rate-window.js';
import { ServerMetrics } from '../lib/metrics/server-metrics.js';
import { timedModel } from '../lib/metrics/timed-model.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createJsonLogger } from '../lib/server/json-logger.js';
import { createLogger, withContext } from '../lib/server/logger.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { useBridgeRig } from './helpers/bridge-rig.js';
import { ROOT, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { metric, scrape } from './helpers/prometheus.js';
import { freePort, ncClient } from './helpers/clients.js';
import { peerText, sameLines, simulStreamingOptions } from './helpers/peer.js';
import { until } from './helpers/wait.js';
import { nodeChild, untilReady } from './helpers/cli.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

describe('server metrics (/metrics, /healthz, /readyz)', () => {
  let lm: LoadedModel;
  let server: SimulstreamServer;
  let http: HttpServer;
  let port: number;
  let httpPort: number;
  let metrics: ServerMetrics;
  const capacity = 1;

  before(async () => {
    metrics = new ServerMetrics({ version: '9.9.9-test', maxStreams: 1 });
    const loaded = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    lm = timedModel(loaded, (stage, s) => metrics.modelRun(stage, s));
    metrics.modelLoaded(0.5, { model: 'ggml-toy.bin', device: 'cpu', threads: 2, quantization: 'none' });
    server = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, observers: [metrics] });
    port = (await server.listen()).port;
    const ready = (): Readiness => (server.connections < capacity ? { ready: true } : { ready: false, reason: `${server.connections} streams open` });
    http = createHttpServer({ port: 0, handlers: [healthRoutes(ready), metricsRoute(metrics.registry)] });
    httpPort = (await http.listen()).port;
  });
  after(async () => {
    await http.close();
    await server.close();
    await lm.release();
  });

  it('counters move as a stream is served: connections, audio seconds, iterations, model runs, lag', async () => {
    const before = await scrape(httpPort);
    assert.equal(metric(before, 'simulstream_connections_accepted_total'), 0);
    assert.equal(metric(before, 'simulstream_policy_iterations_total'), 0);
    assert.equal(metric(before, 'simulstream_build_info', { version: '9.9.9-test' }), 1);
    assert.equal(metric(before, 'simulstream_model_info', { model: 'ggml-toy.bin', device: 'cpu', threads: '2', quantization: 'none' }), 1);
    assert.equal(metric(before, 'simulstream_model_load_seconds'), 0.5);
    assert.equal(metric(before, 'simulstream_streams_capacity'), 1);
    assert.ok(metric(before, 'process_cpu_seconds_total') >= 0, 'the process metrics are there');

    const pcm = toyPcm('fr-000.wav');
    const out = await ncClient(port, pcm);
    const lines = out.trim().split('\n');
    await until(() => server.connections === 0, 'the stream to close');
    const after = await scrape(httpPort);
    assert.equal(metric(after, 'simulstream_connections_accepted_total'), 1);
    assert.equal(metric(after, 'simulstream_streams_open'), 0);
    assert.equal(metric(after, 'simulstream_streams_closed_total'), 1);
    assert.equal(metric(after, 'simulstream_audio_received_seconds_total'), pcm.length / 32000);
    assert.ok(Math.abs(metric(after, 'simulstream_audio_decoded_seconds_total') - pcm.length / 32000) < 1e-6);
    // 0.5 s chunks: 6 full ones and the final pass over the rest
    assert.equal(metric(after, 'simulstream_policy_iterations_total'), Math.ceil(pcm.length / 16000));
    assert.equal(metric(after, 'simulstream_queue_wait_seconds_count'), Math.ceil(pcm.length / 16000));
    assert.equal(metric(after, 'simulstream_model_runs_total', { stage: 'encoder' }), Math.ceil(pcm.length / 16000));
    assert.ok(metric(after, 'simulstream_model_runs_total', { stage: 'decoder' }) >= lines.length);
    assert.ok(metric(after, 'simulstream_model_seconds_total', { stage: 'encoder' }) > 0);
    assert.ok(metric(after, 'simulstream_iteration_seconds_total') > 0);
    assert.ok(metric(after, 'simulstream_real_time_factor') > 0);
    // one lag per line (each line here has words)
    assert.equal(metric(after, 'simulstream_emission_lag_seconds_count'), lines.length);
    assert.equal(metric(after, 'simulstream_emission_lag_seconds_bucket', { le: '+Inf' }), lines.length);
  });

  it('errors are counted by code; /readyz is 503 at capacity, /healthz 200', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt '), toyPcm('en-000.wav')]);
    assert.equal(await ncClient(port, wav), '');
    await until(() => server.connections === 0, 'the stream to close');
    assert.equal(metric(await scrape(httpPort), 'simulstream_stream_errors_total', { code: 'ERR_WAV_HEADER' }), 1);

    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200);
    const held = net.connect({ port, host: '127.0.0.1' });
    await until(() => server.connections === 1, 'the connection');
    const r = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /^not ready: 1 streams open\n$/);
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200);
    assert.equal(metric(await scrape(httpPort), 'simulstream_streams_open'), 1);
    held.end();
    await until(() => server.connections === 0, 'the stream to close');
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/nothing`)).status, 404);
  });

  it('an observer that throws is logged and never breaks a stream', async () => {
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (d: Buffer) => (logText += d.toString()));
    const boom = (): never => {
      throw new Error('observer bug');
    };
    const s2 = createServer({
      model: lm, host: '127.0.0.1', port: 0, ...simulStreamingOptions('defaults', 'fr'), catchUp: false, logger: createLogger(logs, 'INFO'),
      observers: [{ connectionAccepted: boom, audioReceived: boom, iteration: boom, segment: boom, streamClosed: boom }],
    });
    const p2 = (await s2.listen()).port;
    const observed = await ncClient(p2, toyPcm('fr-000.wav'));
    await s2.close();
    assert.ok(sameLines(observed, peerText('defaults', 'fr-000.wav')), `SimulStreaming's lines, whatever the observers do\n${observed}`);
    assert.match(logText, /\| WARNING \| observer \w+ failed: observer bug/m);
  });

  it('refused connections are counted with their reason', async () => {
    const s2 = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, maxConnections: 1, observers: [metrics] });
    const p2 = (await s2.listen()).port;
    const held = net.connect({ port: p2, host: '127.0.0.1' });
    await until(() => s2.connections === 1, 'the connection');
    assert.equal(await ncClient(p2, toyPcm('en-000.wav')).catch(() => ''), '');
    held.end();
    await s2.close();
    assert.equal(metric(await scrape(httpPort), 'simulstream_connections_refused_total', { reason: 'capacity' }), 1);
  });
});

describe('the HTTP port\'s rules', () => {
  it('loopback addresses, and the token required beyond them', () => {
    for (const h of ['localhost', '127.0.0.1', '127.3.2.1', '::1', '[::1]', '::ffff:127.0.0.1', 'LOCALHOST']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'example.com', '128.0.0.1', '::ffff:10.0.0.1']) assert.equal(isLoopback(h), false, h);
    const flags = { host: '--host', token: '--http-token' };
    assert.doesNotThrow(() => requireTokenBeyondLoopback('127.0.0.1', undefined, flags));
    assert.doesNotThrow(() => requireTokenBeyondLoopback('0.0.0.0', 'secret', flags));
    assert.throws(() => requireTokenBeyondLoopback('0.0.0.0', undefined, flags), (e: SimulstreamError) => e.code === 'ERR_INVALID_OPTION' && /--http-token: the HTTP port on 0\.0\.0\.0/u.test(e.message));
  });
});

describe('serve --http-port from the command line', () => {
  it('health, readiness and metrics on the HTTP port, open without the token the page needs; the configuration logged once, as JSON; SIGTERM exits 0', async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const { child, log, exited } = nodeChild([
      path.join(ROOT, 'bin', 'simulstream.js'), 'serve', '--model_path', path.join(TOY, 'ggml-toy.bin'),
      '--models-dir', testCacheDir(), '--host', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort),
      '--max-streams', '2', '--threads', '1', '--log-format', 'json', '--log-level', 'INFO',
    ], { env: { ...process.env, SIMULSTREAM_HTTP_TOKEN: 'the-token' } });
    try {
      await untilReady(httpPort);
      assert.equal((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200);
      // health checks and scrapers carry no token; the page and the transcripts need it
      for (const p of ['/', '/api/calls', '/events', '/nope']) assert.equal((await fetch(`http://127.0.0.1:${httpPort}${p}`)).status, 401, p);
      assert.equal((await fetch(`http://127.0.0.1:${httpPort}/api/calls`, { headers: { authorization: 'Bearer the-token' } })).status, 200);
      const text = await scrape(httpPort);
      assert.equal(metric(text, 'simulstream_streams_capacity'), 2);
      assert.equal(metric(text, 'simulstream_model_info', { device: 'cpu', threads: '1', quantization: 'none' }), 1);
      assert.ok(metric(text, 'simulstream_model_load_seconds') > 0);
      assert.equal(await ncClient(port, toyPcm('en-000.wav')).then((o) => o.length > 0), true);
      assert.equal(metric(await scrape(httpPort), 'simulstream_connections_accepted_total'), 1);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    const recs = log.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const config = recs.filter((r) => /^Configuration: /.test(r.msg as string));
    assert.equal(config.length, 1);
    assert.deepEqual(
      [config[0]!.device, config[0]!.threads, config[0]!.quantization, config[0]!.max_streams, config[0]!.max_connections],
      ['cpu', 1, 'none', 2, 64],
    );
    assert.ok(recs.every((r) => r.component === 'whisper_server' && typeof r.time === 'string'));
  });
});

describe('bridge metrics', () => {
  const rig = useBridgeRig(OPTS);

  it('calls active, finished and failed; lines stored; JSON logs carry the call uuid; a throwing observer beside the metrics breaks nothing', async () => {
    const metrics = new BridgeMetrics({ version: '9.9.9-test' });
    const boom = (): never => {
      throw new Error('observer bug');
    };
    const throwing = { callStarted: boom, lineStored: boom, callEnded: boom, reconnected: boom };
    const out = tempDir();
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (d: Buffer) => (logText += d.toString()));
    const nobody = await freePort();
    const bridge = (recognizer: string) =>
      createBridge({ port: rig.fs.port, recognizer: tcpRecognizer(recognizer), outDir: out, recordDir: tempDir(), backoffMs: [50, 200], observers: [throwing, metrics], logger: createJsonLogger(logs, 'INFO', 'bridge') });
    const b = bridge(`127.0.0.1:${rig.asrPort}`);
    await b.connect();
    const b16 = toyPcm('fr-001.wav');
    rig.fs.addCall({ uuid: 'm-1', caller: '100', callee: '200', audio: new Int16Array(b16.buffer.slice(b16.byteOffset, b16.byteOffset + b16.length)), rate: 16000 });
    rig.fs.answer('m-1');
    const call = await b.transcribeCall('m-1');
    assert.equal(metric(await metrics.registry.metrics(), 'simulstream_bridge_calls_active'), 1);
    await call.done;
    await b.close();
    const text = await metrics.registry.metrics();
    const stored = readTranscript(path.join(out, 'm-1.jsonl'));
    assert.ok(stored.length > 0);
    assert.equal(metric(text, 'simulstream_bridge_lines_stored_total'), stored.length);
    assert.equal(metric(text, 'simulstream_bridge_calls_finished_total'), 1);
    assert.equal(metric(text, 'simulstream_bridge_calls_active'), 0);
    assert.equal(metric(text, 'simulstream_bridge_reconnects_total', { target: 'freeswitch' }), 0);

    // a recognizer that cannot be reached: the call fails, counted by code
    const down = bridge(`127.0.0.1:${nobody}`);
    await down.connect();
    rig.fs.addCall({ uuid: 'm-2', caller: '100', callee: '200', audio: new Int16Array(16000), rate: 16000 });
    rig.fs.answer('m-2');
    await assert.rejects(down.transcribeCall('m-2'), (e: Error & { code?: string }) => e.code === 'ERR_RECOGNIZER');
    await down.close();
    const t2 = await metrics.registry.metrics();
    assert.equal(metric(t2, 'simulstream_bridge_calls_failed_total', { code: 'ERR_RECOGNIZER' }), 1);
    assert.equal(metric(t2, 'simulstream_bridge_calls_active'), 0);

    const records = logText.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.every((r) => r.component === 'bridge' && typeof r.time === 'string' && typeof r.msg === 'string' && typeof r.level === 'string'));
    assert.ok(records.some((r) => r.call_uuid === 'm-1' && /^m-1 mixed \d+ \d+ /.test(r.msg as string)), 'each stored line is logged with its call');
    // the throwing observer: its first failure per event is one warning, the metrics above counted anyway
    const warned = records.filter((r) => /^observer lineStored failed: observer bug/u.test(r.msg as string));
    assert.equal(warned.length, 1, 'one warning for lineStored, however many lines');
    assert.match(String(warned[0]!.level), /^warn/iu);
  });

  it('CLI: bridge --http-port serves /readyz and /metrics while it transcribes, then closes', async () => {
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (d: Buffer) => (logText += d.toString()));
    const b16 = toyPcm('en-000.wav');
    rig.fs.addCall({ uuid: 'cli-1', caller: '100', callee: '200', audio: new Int16Array(b16.buffer.slice(b16.byteOffset, b16.byteOffset + b16.length)), rate: 16000 });
    rig.fs.answer('cli-1');
    const out = tempDir();
    const run = buildCli({ stdout: new PassThrough(), stderr: logs }).parseAsync([
      'node', 'simulstream', 'bridge', '--uuid', 'cli-1', '--esl-port', String(rig.fs.port), '--server', `127.0.0.1:${rig.asrPort}`,
      '--out-dir', out, '--record-dir', tempDir(), '--http-port', '0', '--log-format', 'json',
    ]);
    let httpPort = 0;
    await until(() => {
      const m = /HTTP on http:\/\/127\.0\.0\.1:(\d+)\//.exec(logText);
      httpPort = m ? Number(m[1]) : 0;
      return httpPort > 0 && /recording mixed/.test(logText);
    }, 'the bridge to start the call');
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200);
    assert.equal(metric(await scrape(httpPort), 'simulstream_bridge_calls_active'), 1);
    await run;
    const recs = logText.trim().split('\n').map((l) => JSON.parse(l) as { component: string; call_uuid?: string });
    assert.ok(recs.every((r) => r.component === 'bridge'), 'every log line is a JSON record');
    assert.ok(recs.some((r) => r.call_uuid === 'cli-1'));
    assert.ok(readTranscript(path.join(out, 'cli-1.jsonl')).length > 0);
    await assert.rejects(fetch(`http://127.0.0.1:${httpPort}/healthz`), 'the HTTP port is closed with the bridge');
  });
});

describe('logs', () => {
  it('--log-format json: one object per line with time, level, component, msg and context fields', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const log = createJsonLogger(out, 'INFO', 'whisper_server');
    log.debug('hidden');
    log.info('Listening on 127.0.0.1:43007');
    withContext(log, { client: "('127.0.0.1', 5000)" }).warning('slow client');
    withContext(log, { call_uuid: 'abc' }).critical('gone');
    const recs = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(recs.map((r) => [r.level, r.component, r.msg, r.client, r.call_uuid]), [
      ['info', 'whisper_server', 'Listening on 127.0.0.1:43007', undefined, undefined],
      ['warning', 'whisper_server', 'slow client', "('127.0.0.1', 5000)", undefined],
      ['critical', 'whisper_server', 'gone', undefined, 'abc'],
    ]);
    assert.ok(recs.every((r) => !Number.isNaN(Date.parse(r.time as string))));
  });

  it('the text format ignores context: SimulStreaming\'s lines, byte for byte', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    withContext(createLogger(out, 'INFO'), { client: 'x' }).info('Connected to client on x');
    assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| whisper_server \| INFO \| Connected to client on x\n$/);
  });
});

describe('RateWindow', () => {
  it('a ratio over the last window only', () => {
    let now = 0;
    const w = new RateWindow(60, () => now);
    assert.equal(w.ratio(), 0);
    w.add(1, 4);
    now = 30_000;
    w.add(1, 1);
    assert.equal(w.ratio(), 2 / 5);
    now = 61_000; // the first second has left the window
    assert.equal(w.ratio(), 1);
    now = 200_000;
    assert.equal(w.ratio(), 0);
  });
});
