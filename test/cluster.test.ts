// Several `simulstream serve` processes behind HAProxy, started from deploy/haproxy.cfg, with the
// bridge in front: calls are spread by leastconn, and (with the bridge's failover) a server killed
// mid-call costs no call any audio. Slow (SIMULSTREAM_SLOW=1) and needs `haproxy` (CI installs it).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createBridge, type Bridge } from '../lib/bridge/bridge.js';
import { tcpRecognizer } from '../lib/bridge/recognizer.js';
import { readTranscript } from '../lib/bridge/transcript-store.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createLogger } from '../lib/server/logger.js';
import { formatLine } from '../lib/stream/line-format.js';
import type { StoredLine } from '../lib/bridge/transcript-store.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { ROOT, SKIP_SLOW, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { clipWer, parseLines, peerText, sameLines } from './helpers/peer.js';
import { metric, scrape } from './helpers/prometheus.js';
import { freePort } from './helpers/clients.js';
import { until } from './helpers/wait.js';

const HAS_HAPROXY = spawnSync('haproxy', ['-v']).status === 0;
const SKIP = SKIP_SLOW || (HAS_HAPROXY ? false : 'needs haproxy (apt-get install haproxy)');
const SERVERS = 3;
const CALLS = 9;
const LANGUAGE = 'fr';
const CLIPS = ['fr-000.wav', 'fr-001.wav'];
const asLines = (stored: readonly StoredLine[]): string => stored.map((l) => formatLine(l.start_ms, l.end_ms, l.text)).join('');
const TOKEN = 'cluster-test-token';

interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly httpPort: number;
  log: string;
}

/** Call i says French toy clip i mod 2 (4.4 and 5.1 s). */
const clipOf = (i: number): string => CLIPS[i % CLIPS.length]!;

function callAudio(i: number): Int16Array {
  const b = toyPcm(clipOf(i));
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

describe('N servers behind HAProxy (deploy/haproxy.cfg)', { skip: SKIP }, () => {
  const children: ChildProcess[] = [];
  const servers: ServeProcess[] = [];
  let haproxyLog = '';
  let bindPort: number;
  let statsPort: number;
  let fs1: FakeFreeswitch;
  /** The toy model, compiled once into the cache the servers share. */
  let lm: LoadedModel;
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };

  before(async () => {
    process.once('exit', killAll);
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    for (let i = 0; i < SERVERS; i++) {
      const port = await freePort();
      const httpPort = await freePort();
      const child = spawn(
        process.execPath,
        [
          path.join(ROOT, 'bin', 'simulstream.js'), 'serve',
          '--model_path', path.join(TOY, 'ggml-toy.bin'), '--models-dir', testCacheDir(),
          // SimulStreaming's behaviour, its file loop's chunking and the final pass: every call's
          // transcript is SimulStreaming's lines for its clip (no catch-up: whatever the load)
          '--language', LANGUAGE, '--compat', 'simulstreaming', '--chunking', 'simulstreaming', '--final-pass', '--threads', '1',
          '--host', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort), '--max-streams', '3',
          '--log-format', 'json', '--log-level', 'INFO',
        ],
        // a token protects each server's page: HAProxy's /readyz check must not need it
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SIMULSTREAM_HTTP_TOKEN: TOKEN } },
      );
      children.push(child);
      const s: ServeProcess = { child, port, httpPort, log: '' };
      child.stderr!.on('data', (d: Buffer) => (s.log += d.toString()));
      servers.push(s);
    }
    for (const s of servers) {
      await until(async () => (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`).catch(() => null))?.status === 200, `server ${s.port} ready`);
      assert.equal((await fetch(`http://127.0.0.1:${s.httpPort}/api/calls`)).status, 401, 'the page needs the token');
    }
    bindPort = await freePort();
    statsPort = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, SIMULSTREAM_BIND: `127.0.0.1:${bindPort}`, SIMULSTREAM_STATS: `127.0.0.1:${statsPort}` };
    servers.forEach((s, i) => {
      env[`SIMULSTREAM_S${i + 1}`] = `127.0.0.1:${s.port}`;
      env[`SIMULSTREAM_S${i + 1}_HTTP`] = String(s.httpPort);
    });
    const haproxy = spawn('haproxy', ['-f', path.join(ROOT, 'deploy', 'haproxy.cfg')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(haproxy);
    haproxy.stdout!.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    haproxy.stderr!.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    await until(async () => (await serverStates()).filter((st) => st === 'UP').length === SERVERS, `HAProxy sees ${SERVERS} servers up`);
    fs1 = new FakeFreeswitch();
    await fs1.start();
  });

  after(async () => {
    await fs1?.stop();
    killAll();
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await lm?.release();
  });

  /** The servers' states (UP, DOWN, …) from HAProxy's stats, in order s1, s2, s3. */
  async function serverStates(): Promise<string[]> {
    const r = await fetch(`http://127.0.0.1:${statsPort}/;csv`).catch(() => null);
    if (!r?.ok) return [];
    const rows = (await r.text()).split('\n').map((l) => l.split(','));
    const status = rows[0]!.indexOf('status');
    return rows.filter((c) => c[0] === 'simulstream_servers' && /^s\d+$/.test(c[1] ?? '')).map((c) => c[status]!.split(' ')[0]!);
  }

  /** Places 9 overlapping calls; `during` runs once every call is streaming; resolves when all ended. */
  async function nineCalls(prefix: string, during?: () => Promise<void>): Promise<{ bridge: Bridge; out: string; audio: Int16Array[]; log: string }> {
    const out = tempDir();
    const logOut = new PassThrough();
    let log = '';
    logOut.on('data', (d: Buffer) => (log += d.toString('utf8')));
    const bridge = createBridge({
      port: fs1.port, recognizer: tcpRecognizer(`127.0.0.1:${bindPort}`), outDir: out, recordDir: tempDir(), backoffMs: [50, 200],
      logger: createLogger(logOut, 'INFO', 'bridge'),
    });
    await bridge.connect();
    await bridge.auto();
    const audio = Array.from({ length: CALLS }, (_, i) => callAudio(i));
    // staggered: each call is answered once the one before it is being transcribed
    for (const [i, a] of audio.entries()) {
      fs1.addCall({ uuid: `${prefix}-${i}`, caller: `10${i}`, callee: '3000', audio: a, rate: 16000 });
      fs1.answer(`${prefix}-${i}`);
      await until(() => bridge.calls.has(`${prefix}-${i}`), `call ${i} to start`);
    }
    await during?.();
    await until(() => bridge.calls.size === 0 && audio.every((_, i) => !fs1.calls.has(`${prefix}-${i}`)), 'every call to end');
    await bridge.close();
    return { bridge, out, audio, log };
  }

  it('spreads 9 calls over the three servers (their /metrics), each transcript covering its call', async (t) => {
    const before = await Promise.all(servers.map((s) => scrape(s.httpPort)));
    const { out, audio } = await nineCalls('spread');
    const after = await Promise.all(servers.map((s) => scrape(s.httpPort)));
    const accepted = after.map((t, i) => metric(t, 'simulstream_connections_accepted_total') - metric(before[i]!, 'simulstream_connections_accepted_total'));
    t.diagnostic(`calls accepted per server: ${accepted.join(', ')}`);
    assert.equal(accepted.reduce((a, b) => a + b, 0), CALLS, `accepted per server: ${accepted.join(', ')}`);
    assert.ok(accepted.every((n) => n >= 2), `leastconn spreads the calls: accepted per server ${accepted.join(', ')}`);
    for (const t of after) {
      assert.equal(metric(t, 'simulstream_streams_open'), 0);
      assert.ok(metric(t, 'simulstream_audio_decoded_seconds_total') > 0);
    }
    audio.forEach((_, i) => {
      const got = asLines(readTranscript(path.join(out, `spread-${i}.jsonl`)));
      assert.ok(sameLines(got, peerText('defaults', clipOf(i))), `call ${i}: SimulStreaming's lines for ${clipOf(i)}\n${got}`);
    });
    // machine-readable logs: every line a JSON object; the configuration logged once
    for (const s of servers) {
      const recs = s.log.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(recs.filter((r) => /^Configuration: /.test(r.msg as string)).length, 1);
      assert.ok(recs.some((r) => r.max_streams === 3 && r.device === 'cpu' && r.threads === 1 && r.quantization === 'none'));
      assert.ok(recs.some((r) => typeof r.client === 'string' && /^Connected to client on /.test(r.msg as string)));
    }
  });

  // The bridge's failover: a call whose server died reconnects through HAProxy (to a live server)
  // and resumes from the first audio not covered by a stored line.
  it('a server killed mid-call: every call\'s stored transcript still covers the whole call, in order', async () => {
    const victim = servers[0]!;
    const { out, audio, log } = await nineCalls('kill', async () => {
      // mid-call: once a call it carries has had a line stored
      await until(async () => metric(await scrape(victim.httpPort), 'simulstream_emission_lag_seconds_count') > 0, 'the victim to have sent a line');
      victim.child.kill('SIGKILL');
    });
    assert.doesNotMatch(log, /\| ERROR \|/u, 'no call failed');
    let moved = 0;
    for (const [i, a] of audio.entries()) {
      const uuid = `kill-${i}`;
      const stored = readTranscript(path.join(out, `${uuid}.jsonl`));
      const got = asLines(stored);
      // the whole recording went through a connection that the server ended after the last byte
      assert.match(log, new RegExp(`call ${uuid} mixed: ${a.length * 2} bytes of audio transcribed`, 'u'), log);
      const resumed = new RegExp(`call ${uuid} mixed: reconnected to [^,]+, resuming from (\\d+) ms`, 'u').exec(log);
      const whole = peerText('defaults', clipOf(i));
      if (!resumed) {
        // a call its server kept: SimulStreaming's lines
        assert.ok(sameLines(got, whole), `call ${i}: SimulStreaming's lines\n${got}`);
        continue;
      }
      moved++;
      // a moved call: the lines its first server gave are SimulStreaming's first lines; the whole
      // call is as accurate as SimulStreaming's transcript of it (the cut may fall inside a word)
      const from = Number(resumed[1]);
      const before = stored.filter((l) => l.end_ms <= from).length;
      assert.ok(sameLines(asLines(stored.slice(0, before)), parseLines(whole).slice(0, before).map(([s0, e0, t0]) => formatLine(s0, e0, t0)).join('')), `call ${i}: before the resume at ${from} ms`);
      assert.ok(stored.some((l) => l.start_ms > from), `call ${i}: lines after the resume`);
      const w = clipWer(stored.map((l) => l.text).join(''), clipOf(i));
      assert.ok(w.ours <= w.simulstreaming + 25, `call ${i}: WER ${w.ours.toFixed(1)} % (SimulStreaming ${w.simulstreaming.toFixed(1)} %)`);
    }
    assert.ok(moved >= 1, `calls moved to another server: ${moved}`);
  });
});
