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
import type { StreamRunOptions } from '../lib/stream/run-transcriber.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { ROOT, SKIP_SLOW, TOY, TOY_CLIPS, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { lineText, linesFrom } from './helpers/resumed-call.js';
import { metric, scrape } from './helpers/prometheus.js';
import { freePort, waitFor } from './helpers/tcp-client.js';

const HAS_HAPROXY = spawnSync('haproxy', ['-v']).status === 0;
const SKIP = SKIP_SLOW || (HAS_HAPROXY ? false : 'needs haproxy (apt-get install haproxy)');
const SERVERS = 3;
const CALLS = 9;
const CHUNK = 1.2;
const LANGUAGE = 'fr';

interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly httpPort: number;
  log: string;
}

/** Call i says toy clip i mod 4 (1.9 to 6 s). */
const clipOf = (i: number): string => TOY_CLIPS[i % TOY_CLIPS.length]!;

function callAudio(i: number): Int16Array {
  const b = toyPcm(`${clipOf(i)}.wav`);
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

describe('N servers behind HAProxy (deploy/haproxy.cfg)', { skip: SKIP }, () => {
  const children: ChildProcess[] = [];
  const servers: ServeProcess[] = [];
  let haproxyLog = '';
  let bindPort: number;
  let statsPort: number;
  let fs1: FakeFreeswitch;
  /** Each clip's transcript, as `transcribe` gives it (no catch-up on these servers). */
  const expected = new Map<string, string[]>();
  /** The toy model, for the transcripts the tests compare with. */
  let lm: LoadedModel;
  const opts = (): StreamRunOptions => ({ model: lm, language: LANGUAGE, minChunkSize: CHUNK });
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };

  before(async () => {
    process.once('exit', killAll);
    // compile the toy model once, into the cache the servers share; each clip's transcript
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    for (const [i, c] of TOY_CLIPS.entries()) expected.set(c, await linesFrom(callAudio(i), 0, opts()));
    for (let i = 0; i < SERVERS; i++) {
      const port = await freePort();
      const httpPort = await freePort();
      const child = spawn(
        process.execPath,
        [
          path.join(ROOT, 'bin', 'simulstream.js'), 'serve',
          '--model_path', path.join(TOY, 'ggml-toy.bin'), '--models-dir', testCacheDir(),
          // no catch-up: on a busy machine the output stays what `transcribe` prints, only later
          '--language', LANGUAGE, '--min-chunk-size', String(CHUNK), '--threads', '1', '--no-catch-up',
          '--host', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort), '--max-streams', '3',
          '--log-format', 'json', '--log-level', 'INFO',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(child);
      const s: ServeProcess = { child, port, httpPort, log: '' };
      child.stderr!.on('data', (d: Buffer) => (s.log += d.toString()));
      servers.push(s);
    }
    for (const s of servers) {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`).catch(() => null))?.status === 200, 60_000, `server ${s.port} ready\n${s.log}`);
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
    await waitFor(async () => (await serverStates()).filter((st) => st === 'UP').length === SERVERS, 20_000, `HAProxy sees ${SERVERS} servers up\n${haproxyLog}`);
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
    audio.forEach((a, i) => {
      fs1.addCall({ uuid: `${prefix}-${i}`, caller: `10${i}`, callee: '3000', audio: a, rate: 16000 });
      setTimeout(() => fs1.answer(`${prefix}-${i}`), i * 100);
    });
    await waitFor(() => bridge.calls.size === CALLS, 20_000, 'every call to start');
    await during?.();
    await waitFor(() => bridge.calls.size === 0 && audio.every((_, i) => !fs1.calls.has(`${prefix}-${i}`)), 90_000, 'every call to end');
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
    audio.forEach((_, i) => assert.deepEqual(readTranscript(path.join(out, `spread-${i}.jsonl`)).map(lineText), expected.get(clipOf(i)), `call ${i}`));
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
      await waitFor(async () => metric(await scrape(victim.httpPort), 'simulstream_streams_open') > 0, 10_000, 'the victim to carry calls');
      await new Promise((r) => setTimeout(r, 500));
      victim.child.kill('SIGKILL');
    });
    assert.doesNotMatch(log, /\| ERROR \|/u, 'no call failed');
    let moved = 0;
    for (const [i, a] of audio.entries()) {
      const uuid = `kill-${i}`;
      const got = readTranscript(path.join(out, `${uuid}.jsonl`)).map(lineText);
      // the whole recording went through a connection that the server ended after the last byte
      assert.match(log, new RegExp(`call ${uuid} mixed: ${a.length * 2} bytes of audio transcribed`, 'u'), log);
      const resumed = new RegExp(`call ${uuid} mixed: reconnected to [^,]+, resuming from (\\d+) ms`, 'u').exec(log);
      const whole = expected.get(clipOf(i))!;
      if (!resumed) {
        // a call its server kept: what `transcribe` prints (no catch-up)
        assert.deepEqual(got, whole, `call ${i}`);
        continue;
      }
      moved++;
      // a moved call: the lines its first server gave, then what the next says of the rest
      const from = Number(resumed[1]);
      const before = got.filter((l) => Number(l.split(' ')[1]) <= from).length;
      assert.deepEqual(got.slice(0, before), whole.slice(0, before), `call ${i}: before the resume at ${from} ms`);
      assert.deepEqual(got.slice(before), await linesFrom(a, from, opts()), `call ${i}: after the resume at ${from} ms`);
    }
    assert.ok(moved >= 1, `calls moved to another server: ${moved}`);
  });
});
