// The bridge survives its peers: malformed or endless input from FreeSWITCH or the recognizer, a
// refused login, and a recognizer that dies mid-call (restarted, or one server of a list gone).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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
import { createLogger } from '../lib/server/logger.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { waitFor } from './helpers/clients.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { ROOT, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { lineText, linesFrom } from './helpers/resumed-call.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

function capture(name = 'bridge'): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { logger: createLogger(out, 'DEBUG', name), text: () => text };
}

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
 * sent the call's audio from the logged resume point (the end of a stored line) to its last byte;
 * the lines stored before it are (but the last) the start of what the model says of the whole call, and the
 * lines after it are what the model says of the rest of the call, in the call's clock.
 */
async function assertResumedToTheEnd(
  model: LoadedModel, log: string, uuid: string, rec: { readonly sockets: readonly net.Socket[] }, audio: Int16Array, stored: readonly StoredLine[],
): Promise<void> {
  const resumed = new RegExp(`call ${uuid} mixed: reconnected to 127\\.0\\.0\\.1:\\d+, resuming from (\\d+) ms`, 'u').exec(log);
  assert.ok(resumed, log);
  const offsetMs = Number(resumed[1]);
  assert.ok(offsetMs > 0 && stored.some((l) => l.end_ms === offsetMs), 'resumed from the end of a stored line');
  assert.ok(rec.sockets.length >= 2, `${rec.sockets.length} connection(s)`);
  assert.equal(rec.sockets.at(-1)!.bytesWritten, audio.length * 2 - (offsetMs * 16000 * 2) / 1000, 'bytes sent after the resume');
  const got = stored.map(lineText);
  const before = stored.filter((l) => l.end_ms <= offsetMs).length;
  // (but the last, which a server that closes gracefully ends at the audio it had)
  assert.deepEqual(got.slice(0, before - 1), (await linesFrom(audio, 0, { model, ...OPTS })).slice(0, before - 1), 'before the resume: the start of the whole call\'s transcript');
  assert.deepEqual(got.slice(before), await linesFrom(audio, offsetMs, { model, ...OPTS }), 'after the resume: the transcript of the rest of the call');
  assert.ok(got.length > before, 'lines after the resume');
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
    b: Bridge, out: string, log: () => string, rec: ReturnType<typeof counting>, uuid: string, caller: string, audio: Int16Array,
  ): Promise<void> {
    await b.connect();
    fs1.addCall({ uuid, caller, callee: '3000', audio, rate: 16000 });
    fs1.answer(uuid);
    const call = await b.transcribeCall(uuid);
    await call.done;
    await b.close();
    assert.equal(call.failure, null, log());
    const stored = readTranscript(path.join(out, `${uuid}.jsonl`));
    assertMonotonic(stored);
    await assertResumedToTheEnd(lm, log(), uuid, rec, audio, stored);
  }

  async function asr(): Promise<{ server: SimulstreamServer; port: number }> {
    // no catch-up: what a server says of a stream does not depend on the machine's load
    const server = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, catchUp: false });
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
    const log = capture();
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

  it('a refused login is logged as such and retried with backoff until FreeSWITCH takes it', async () => {
    const log = capture();
    const fs2 = new FakeFreeswitch();
    await fs2.start();
    const { port } = await asr();
    const b = createBridge({ port: fs2.port, recognizer: tcpRecognizer(`127.0.0.1:${port}`), outDir: tempDir(), backoffMs: [50, 200], logger: log.logger });
    try {
      await b.connect();
      fs2.password = 'changed';
      await fs2.restart(50);
      await waitFor(() => (log.text().match(/FreeSWITCH refused the login/gu) ?? []).length >= 2, 10_000, 'two refused logins');
      fs2.password = 'ClueCon';
      await waitFor(() => log.text().includes('reconnected to FreeSWITCH'), 10_000, 'the login to succeed');
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
    const log = capture();
    let srv = await serveChild();
    const port = srv.port;
    const rec = counting(tcpRecognizer(`127.0.0.1:${port}`));
    const out = tempDir();
    let killed = false;
    const b = createBridge({
      port: fs1.port, recognizer: rec, outDir: out, recordDir: tempDir(), backoffMs: [50, 200],
      recognizerBackoffMs: [100, 400], recognizerAttempts: 100, logger: log.logger,
      onLine: () => {
        if (killed) return;
        killed = true;
        srv.child.kill('SIGKILL');
        setTimeout(() => void serveChild(port).then((s) => (srv = s)), 300);
      },
    });
    try {
      await callThroughFailure(b, out, log.text, rec, 'kill-1', '601', pcm('en-001.wav', 'fr-000.wav'));
    } finally {
      srv.child.kill('SIGKILL');
    }
  });

  it('--server a,b: a call whose server goes away moves to the next one without losing audio', async () => {
    const log = capture();
    const a = await asr();
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
        void a.server.close(); // stops listening, finishes its streams: this call must go on elsewhere
      },
    });
    await callThroughFailure(b, out, log.text, rec, 'move-1', '701', pcm('fr-001.wav', 'en-000.wav'));
    assert.match(log.text(), new RegExp(`call move-1 mixed: reconnected to 127\\.0\\.0\\.1:${bsrv.port}, resuming from \\d+`, 'u'));
  });
});
