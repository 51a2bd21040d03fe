// The bridge survives its peers: malformed or endless input from FreeSWITCH or the recognizer, a
// refused login, and a recognizer that dies mid-call (restarted, or one server of a list gone).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createBridge, type Bridge } from '../lib/bridge/bridge.js';
import { parseEvent } from '../lib/bridge/esl-event.js';
import { EslParser } from '../lib/bridge/esl-parser.js';
import { tcpRecognizer, type Recognizer } from '../lib/bridge/recognizer.js';
import { TranscriptLineParser, type TranscriptLine } from '../lib/bridge/transcript-lines.js';
import { readTranscript, type StoredLine } from '../lib/bridge/transcript-store.js';
import { buildCli } from '../lib/cli/main.js';
import { SimulstreamError } from '../lib/errors.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import type { ServerObserver } from '../lib/server/observer.js';
import { nodeChild } from './helpers/cli.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { ROOT, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { clipsWer } from './helpers/peer.js';
import { until } from './helpers/wait.js';
import { captureLog } from './helpers/log-capture.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

const pcm = (...files: string[]): Int16Array => {
  const b = Buffer.concat(files.map((f) => toyPcm(f)));
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};

/** Lines cover the call in order: each starts after the previous one ends, none repeated. */
function assertMonotonic(lines: readonly StoredLine[]): void {
  assert.ok(lines.length >= 2, `${lines.length} line(s)`);
  lines.forEach((l, i) => {
    assert.ok(l.end_ms >= l.start_ms, `line ${i}: ${l.start_ms}–${l.end_ms}`);
    if (i > 0) assert.ok(l.start_ms > lines[i - 1]!.end_ms, `line ${i} starts at ${l.start_ms}, before the previous end ${lines[i - 1]!.end_ms}`);
  });
  assert.equal(new Set(lines.map((l) => `${l.start_ms} ${l.end_ms} ${l.text}`)).size, lines.length, 'no line repeated');
}

/** A recognizer that keeps each connection it opened, to count the audio each one was sent. */
function counting(inner: Recognizer): Recognizer & { readonly sockets: net.Socket[] } {
  const sockets: net.Socket[] = [];
  return {
    name: inner.name,
    sockets,
    open: async () => {
      const s = await inner.open();
      assert.ok(s instanceof net.Socket);
      sockets.push(s);
      return s;
    },
  };
}

/**
 * Nothing lost across the reconnection, and the whole call transcribed: the last connection was
 * sent the call's audio from the logged resume point (the end of a stored line) to its last byte,
 * and the stored transcript of the whole call is as accurate as SimulStreaming's on its clips
 * (within 25 points: the cut may fall inside a word; the model's words of a cut call have no
 * reference of their own). The exact shift of the resumed lines is checked with a scripted
 * recognizer below.
 */
function assertResumedToTheEnd(log: string, uuid: string, rec: { readonly sockets: readonly net.Socket[] }, audio: Int16Array, clips: readonly string[], stored: readonly StoredLine[]): void {
  const resumed = new RegExp(`call ${uuid} mixed: reconnected to 127\\.0\\.0\\.1:\\d+, resuming from (\\d+) ms`, 'u').exec(log);
  assert.ok(resumed, log);
  const offsetMs = Number(resumed[1]);
  assert.ok(offsetMs > 0 && stored.some((l) => l.end_ms === offsetMs), 'resumed from the end of a stored line');
  assert.ok(rec.sockets.length >= 2, `${rec.sockets.length} connection(s)`);
  assert.equal(rec.sockets.at(-1)!.bytesWritten, audio.length * 2 - (offsetMs * 16000 * 2) / 1000, 'bytes sent after the resume');
  assert.ok(stored.some((l) => l.start_ms > offsetMs), 'lines after the resume');
  const text = stored.map((l) => l.text).join('');
  const w = clipsWer(text, clips);
  assert.ok(w.ours <= w.simulstreaming + 25, `the whole call: WER ${w.ours.toFixed(1)} % (SimulStreaming on its clips ${w.simulstreaming.toFixed(1)} %): ${text}`);
}

describe('bridge parsers skip what they cannot parse, within bounded memory', () => {
  it('EslParser: an endless header block, an oversized body and a bad Content-Length are skipped with a warning', () => {
    const warnings: string[] = [];
    const p = new EslParser({ maxHeaderBytes: 1024, maxBodyBytes: 64, onWarning: (m) => warnings.push(m) });
    const reply = 'Content-Type: api/response\nContent-Length: 2\n\nok';
    assert.deepEqual(p.push(Buffer.alloc(3000, 'x')), []);
    const msgs = [
      ...p.push(Buffer.from(`\n\n${reply}`)),
      ...p.push(Buffer.from(`Content-Type: text/event-json\nContent-Length: 100\n\n${'y'.repeat(60)}`)),
      ...p.push(Buffer.from(`${'y'.repeat(40)}${reply}`)),
      ...p.push(Buffer.from(`Content-Type: api/response\nContent-Length: abc\n\n${reply}`)),
    ];
    assert.deepEqual(msgs.map((m) => [m.headers['Content-Type'], m.body]), [
      ['api/response', 'ok'],
      ['text/event-json', ''],
      ['api/response', 'ok'],
      ['api/response', ''],
      ['api/response', 'ok'],
    ]);
    assert.deepEqual(warnings, [
      'dropped 3000 bytes: no end of message headers within 1024 bytes',
      'skipped a 100-byte message body (longer than 64 bytes)',
      'ignored a message\'s Content-Length "abc" (not a byte count)',
    ]);
  });

  it('parseEvent never throws: a JSON body that does not parse, or is not an object, is skipped with a warning', () => {
    const warnings: string[] = [];
    const warn = (m: string): void => void warnings.push(m);
    assert.equal(parseEvent({ headers: { 'Content-Type': 'text/event-json' }, body: '{"Event-Na' }, warn), null);
    assert.equal(parseEvent({ headers: { 'Content-Type': 'text/event-json' }, body: '[1,2]' }, warn), null);
    assert.equal(parseEvent({ headers: { 'Content-Type': 'text/event-json' }, body: '{"Event-Name":"X","n":3}' }, warn)?.headers.n, '3');
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /^skipped a JSON event that does not parse/u);
  });

  it('TranscriptLineParser: an endless line and a line that is not "start end text" are skipped with a warning', async () => {
    const p = new TranscriptLineParser(1000);
    const warnings: string[] = [];
    p.on('warning', (w: Error) => warnings.push(w.message));
    const parts = [Buffer.alloc(600, 'z'), Buffer.alloc(600, 'z'), Buffer.from('zz\n0 100  un\nnot a line\n101 200  deux')];
    const got: TranscriptLine[] = [];
    for await (const l of Readable.from(parts).pipe(p)) got.push(l as TranscriptLine);
    assert.deepEqual(got, [
      { startMs: 0, endMs: 100, text: ' un' },
      { startMs: 101, endMs: 200, text: ' deux' },
    ]);
    assert.deepEqual(warnings, ['skipped a recognizer line longer than 1000 characters', 'skipped a recognizer line that is not "start_ms end_ms text": not a line']);
  });
});

describe('the bridge against failing peers', () => {
  let lm: LoadedModel;
  let fs1: FakeFreeswitch;
  const servers: SimulstreamServer[] = [];
  const children: ChildProcess[] = [];

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    fs1 = new FakeFreeswitch();
    await fs1.start();
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await fs1.stop();
    for (const s of servers) await s.close();
    await lm.release();
  });

  /**
   * Places one call through a bridge whose recognizer fails mid-call: it must end without a
   * failure, its stored transcript covering the whole call (assertResumedToTheEnd).
   */
  async function callThroughFailure(
    b: Bridge, out: string, log: () => string, rec: ReturnType<typeof counting>, uuid: string, caller: string, clips: readonly string[],
    beforeAnswer?: () => void,
  ): Promise<void> {
    const audio = pcm(...clips);
    await b.connect();
    fs1.addCall({ uuid, caller, callee: '3000', audio, rate: 16000 });
    beforeAnswer?.();
    fs1.answer(uuid);
    const call = await b.transcribeCall(uuid);
    await call.done;
    await b.close();
    assert.equal(call.failure, null, log());
    const stored = readTranscript(path.join(out, `${uuid}.jsonl`));
    assertMonotonic(stored);
    assertResumedToTheEnd(log(), uuid, rec, audio, clips, stored);
  }

  async function asr(observers: readonly ServerObserver[] = []): Promise<{ server: SimulstreamServer; port: number }> {
    // no catch-up: what a server says of a stream does not depend on the machine's load
    const server = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, catchUp: false, observers });
    servers.push(server);
    return { server, port: (await server.listen()).port };
  }

  /** `simulstream serve` in a child process (so that it can be killed); resolves with its port once it listens. */
  function serveChild(port = 0): Promise<{ child: ChildProcess; port: number }> {
    const child = spawn(process.execPath, [
      path.join(ROOT, 'bin', 'simulstream.js'), 'serve', '--model_path', path.join(TOY, 'ggml-toy.bin'),
      '--models-dir', testCacheDir(), '--host', '127.0.0.1', '--port', String(port), '--language', 'fr', '--min-chunk-size', '0.5', '--no-catch-up', '-l', 'INFO',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    return new Promise((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /Listening on 127\.0\.0\.1:(\d+)/u.exec(err);
        if (m) resolve({ child, port: Number(m[1]) });
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
    });
  }

  it('malformed events from FreeSWITCH are skipped with a warning; the event socket keeps working', async () => {
    const log = captureLog('bridge');
    const { port } = await asr();
    const b = createBridge({ port: fs1.port, recognizer: tcpRecognizer(`127.0.0.1:${port}`), outDir: tempDir(), recordDir: tempDir(), format: 'json', logger: log.logger });
    await b.connect();
    const bad = '{"Event-Name": "CHANNEL_ANSWER", "Unique-ID": ';
    fs1.sendRaw(`Content-Length: ${bad.length}\nContent-Type: text/event-json\n\n${bad}`);
    fs1.sendRaw(`Content-Length: 5\nContent-Type: text/event-json\n\n{"Event-Name": "CHANNEL_ANSWER"}\n\n`);
    fs1.sendRaw(`${'x'.repeat(200_000)}\n\n`);
    assert.match(await b.esl.api('status'), /is ready/u);
    await b.close();
    assert.match(log.text(), /WARNING \| FreeSWITCH event socket: skipped a JSON event that does not parse/u);
    assert.match(log.text(), /WARNING \| FreeSWITCH event socket: dropped \d+ bytes: no end of message headers/u);
  });

  it('a "show channels" reply that is not JSON is an ERR_ESL_COMMAND for the caller, not calls silently missed', async () => {
    const fs2 = new FakeFreeswitch();
    await fs2.start();
    const { port } = await asr();
    const b = createBridge({ port: fs2.port, recognizer: tcpRecognizer(`127.0.0.1:${port}`), outDir: tempDir(), reconnect: false });
    try {
      await b.connect();
      fs2.apiReplies.set('show channels as json', '-ERR Cannot execute the query\n');
      await assert.rejects(b.auto(), (e: SimulstreamError) => e.code === 'ERR_ESL_COMMAND' && /show channels as json did not answer JSON: -ERR Cannot execute the query/u.test(e.message));
      fs2.apiReplies.clear();
      await b.auto(); // no channel: {"row_count":0} is an empty list
    } finally {
      await b.close();
      await fs2.stop();
    }
  });

  it('a refused login is logged as such and retried with backoff until FreeSWITCH takes it', async () => {
    const log = captureLog('bridge');
    const fs2 = new FakeFreeswitch();
    await fs2.start();
    const { port } = await asr();
    const b = createBridge({ port: fs2.port, recognizer: tcpRecognizer(`127.0.0.1:${port}`), outDir: tempDir(), backoffMs: [50, 200], logger: log.logger });
    try {
      await b.connect();
      fs2.password = 'changed';
      await fs2.restart(50);
      await until(() => (log.text().match(/FreeSWITCH refused the login/gu) ?? []).length >= 2, 'two refused logins');
      fs2.password = 'ClueCon';
      await until(() => log.text().includes('reconnected to FreeSWITCH'), 'the login to succeed');
      assert.match(log.text(), /ERROR \| FreeSWITCH refused the login: FreeSWITCH at 127\.0\.0\.1:\d+ rejected the password \(-ERR invalid\); retrying in 0\.\d+ s/u);
    } finally {
      await b.close();
      await fs2.stop();
    }
  });

  it('bridge --uuid exits non-zero when the call could not be transcribed', async () => {
    // a recognizer that takes every connection and closes it at once
    const dead = net.createServer((s) => s.end());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as net.AddressInfo).port;
    fs1.addCall({ uuid: 'dead-1', caller: '501', callee: '3000', audio: pcm('en-000.wav'), rate: 16000 });
    fs1.answer('dead-1');
    const err = new PassThrough();
    let errText = '';
    err.on('data', (d: Buffer) => (errText += d.toString()));
    const dir = tempDir();
    let code = '';
    try {
      await buildCli({ stdout: new PassThrough(), stderr: err }).parseAsync([
        'node', 'simulstream', 'bridge', '--uuid', 'dead-1', '--esl-port', String(fs1.port), '--server', `127.0.0.1:${deadPort}`,
        '--recognizer-retries', '2', '--out-dir', dir, '--record-dir', dir,
      ]);
    } catch (e) {
      code = e instanceof SimulstreamError ? e.code : String(e);
    } finally {
      dead.close();
    }
    assert.equal(code, 'ERR_CALL_NOT_TRANSCRIBED', errText);
    assert.ok(fs1.commands.includes(`api uuid_record dead-1 stop ${path.join(dir, 'fs_dead-1.raw')}`), 'the recording was stopped');
    assert.match(errText, /call dead-1 mixed: the recognizer connection dropped/u);
    assert.match(errText, /ERROR \| call dead-1 mixed: gave up after 2 attempt\(s\) in a row/u);
  });

  it('the recognizer is killed mid-call and started again: the stored transcript covers the whole call, in order, no line twice', async () => {
    const log = captureLog('bridge');
    const first = await serveChild();
    const port = first.port;
    let second: Promise<{ child: ChildProcess; port: number }> | undefined;
    const rec = counting(tcpRecognizer(`127.0.0.1:${port}`));
    const out = tempDir();
    let killed = false;
    const b = createBridge({
      port: fs1.port, recognizer: rec, outDir: out, recordDir: tempDir(), backoffMs: [50, 200],
      recognizerBackoffMs: [100, 400], recognizerAttempts: 100, logger: log.logger,
      onLine: () => {
        if (killed) return;
        killed = true;
        // killed, then started again on the same port once it is gone (the bridge retries meanwhile)
        first.child.once('exit', () => (second = serveChild(port)));
        first.child.kill('SIGKILL');
      },
    });
    try {
      await callThroughFailure(b, out, log.text, rec, 'kill-1', '601', ['fr-001.wav', 'fr-000.wav']);
    } finally {
      first.child.kill('SIGKILL');
      (await second)?.child.kill('SIGKILL');
    }
  });

  it('--server a,b: a call whose server goes away moves to the next one without losing audio', async () => {
    const log = captureLog('bridge');
    // the call's clock stands at HOLD s until server A is gone, and A goes once it has all of that
    // audio: its final pass, and so the resume point, do not depend on timing
    const HOLD = 2.5;
    let received = 0;
    let release = (): void => {};
    const a = await asr([{ audioReceived: (_peer, n) => void (received += n) }]);
    const bsrv = await asr();
    const rec = counting(tcpRecognizer(`127.0.0.1:${a.port},127.0.0.1:${bsrv.port}`));
    const out = tempDir();
    let moved = false;
    const b = createBridge({
      port: fs1.port, recognizer: rec, outDir: out, recordDir: tempDir(),
      recognizerBackoffMs: [50, 200], logger: log.logger,
      onLine: () => {
        if (moved) return;
        moved = true;
        // stops listening, finishes its streams: this call must go on elsewhere
        void until(() => received >= HOLD * 32000, 'server A to have the held audio')
          .then(() => a.server.close())
          .then(() => release());
      },
    });
    await callThroughFailure(b, out, log.text, rec, 'move-1', '701', ['fr-000.wav', 'fr-001.wav'], () => (release = fs1.holdAt('move-1', HOLD)));
    assert.match(log.text(), new RegExp(`call move-1 mixed: reconnected to 127\\.0\\.0\\.1:${bsrv.port}, resuming from \\d+`, 'u'));
  });

  it('a resumed stream\'s lines are shifted into the call\'s clock: exact, with a scripted recognizer', async () => {
    // each connection gives a line per 0.5 s of audio it was sent, in its own clock ("k*500 k*500+400
    // c<n>-<k>"), and one for the rest at its end; the first connection closes after three lines
    let conns = 0;
    const scripted = net.createServer({ allowHalfOpen: true }, (s) => {
      const n = conns++;
      let bytes = 0;
      let k = 0;
      s.on('data', (b: Buffer) => {
        bytes += b.length;
        while (bytes >= (k + 1) * 16000 && !s.writableEnded) {
          s.write(`${k * 500} ${k * 500 + 400}  c${n}-${k}\n`);
          if (++k === 3 && n === 0) s.end();
        }
      });
      s.on('end', () => {
        if (!s.writableEnded) s.end(`${k * 500} ${Math.round(bytes / 32)}  c${n}-end\n`);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => scripted.listen(0, '127.0.0.1', () => r()));
    const port = (scripted.address() as net.AddressInfo).port;
    const rec = counting(tcpRecognizer(`127.0.0.1:${port}`));
    const out = tempDir();
    const audio = pcm('fr-000.wav');
    assert.equal(audio.length, 81249, '5078.06 ms of audio');
    const b = createBridge({ port: fs1.port, recognizer: rec, outDir: out, recordDir: tempDir(), recognizerBackoffMs: [20, 50] });
    try {
      await b.connect();
      fs1.addCall({ uuid: 'shift-1', caller: '801', callee: '3000', audio, rate: 16000 });
      fs1.answer('shift-1');
      await (await b.transcribeCall('shift-1')).done;
      await b.close();
    } finally {
      scripted.close();
    }
    // resumed from 1400 ms (the end of the third line): the second stream's times + 1400, each line
    // starting after the one before; 5078 − 1400 = 3678 ms of audio sent again, 7 whole half-seconds
    assert.deepEqual(
      readTranscript(path.join(out, 'shift-1.jsonl')).map((l) => `${l.start_ms} ${l.end_ms}${l.text}`),
      [
        '0 400 c0-0', '500 900 c0-1', '1000 1400 c0-2',
        '1401 1800 c1-0', '1900 2300 c1-1', '2400 2800 c1-2', '2900 3300 c1-3', '3400 3800 c1-4', '3900 4300 c1-5', '4400 4800 c1-6',
        '4900 5078 c1-end',
      ],
    );
    assert.equal(rec.sockets[1]!.bytesWritten, (81249 - 1400 * 16) * 2, 'the audio from 1400 ms on, once');
  });
});

describe('bridge --auto start-up', () => {
  const bridgeArgs = (port: number, dir: string): string[] => [
    path.join(ROOT, 'bin', 'simulstream.js'), 'bridge', '--auto', '--esl-port', String(port), '--server', '127.0.0.1:9', '--out-dir', dir, '--record-dir', dir,
  ];

  it('waits for a FreeSWITCH that is not up yet and logs in with SIMULSTREAM_ESL_PASSWORD (not on its command line); SIGTERM exits 0', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const dir = tempDir();
    const { child, log, exited } = nodeChild(bridgeArgs(port, dir), { env: { ...process.env, SIMULSTREAM_ESL_PASSWORD: 'not-ClueCon' } });
    const fs2 = new FakeFreeswitch('not-ClueCon');
    try {
      await log.until(/WARNING \| FreeSWITCH is not up yet \(cannot reach FreeSWITCH's event socket at 127\.0\.0\.1:\d+: connect ECONNREFUSED[^)]*\); retrying in [\d.]+ s/u, 'a retry');
      await fs2.start(port);
      await log.until(/INFO \| connected to FreeSWITCH at 127\.0\.0\.1:\d+; recognizer/u, 'the login');
      await log.until(/INFO \| transcribing every answered inbound call until SIGTERM or SIGINT/u, 'auto mode');
      assert.ok(fs2.commands.some((c) => c.startsWith('event plain')), 'subscribed to events');
      assert.doesNotMatch(fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'), /not-ClueCon/u);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, log.text());
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await fs2.stop();
    }
  });

  it('SIGTERM while it waits for FreeSWITCH: exit 0; a refused login at start is not retried (exit 1, one line)', async () => {
    const dir = tempDir();
    const { child, log: out, exited } = nodeChild(bridgeArgs(9, dir));
    await out.until(/FreeSWITCH is not up yet/u, 'a retry');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out.text());
    const fs2 = new FakeFreeswitch('other');
    await fs2.start();
    try {
      const denied = spawn(process.execPath, bridgeArgs(fs2.port, dir), { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      denied.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      assert.equal(await new Promise((r) => denied.once('exit', r)), 1);
      assert.match(err, /^simulstream: FreeSWITCH at 127\.0\.0\.1:\d+ rejected the password \(-ERR invalid\)\n$/mu);
    } finally {
      await fs2.stop();
    }
  });
});
