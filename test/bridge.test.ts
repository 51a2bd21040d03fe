import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createBridge, type Bridge } from '../lib/bridge/bridge.js';
import { parseEvent, formatPlainEvent } from '../lib/bridge/esl-event.js';
import { EslParser } from '../lib/bridge/esl-parser.js';
import { FileFollower } from '../lib/bridge/file-follower.js';
import { tcpRecognizer } from '../lib/bridge/recognizer.js';
import { TranscriptLineParser, type TranscriptLine } from '../lib/bridge/transcript-lines.js';
import { readTranscript, type StoredLine } from '../lib/bridge/transcript-store.js';
import { Upsample2x } from '../lib/bridge/upsample.js';
import wavefile from 'wavefile';
import { buildCli } from '../lib/cli/main.js';
import { SimulstreamError } from '../lib/errors.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { formatLine } from '../lib/stream/line-format.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { FIXTURES, TOY, TOY_CLIPS, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

async function drain<T>(stream: NodeJS.ReadableStream): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x as T);
  return out;
}

describe('ESL framing and events', () => {
  it('splits messages wherever the bytes are cut, with CRLF and UTF-8 bodies', () => {
    const body = 'Réponse: é\n';
    const wire = Buffer.from(
      `Content-Type: auth/request\n\nContent-Type: command/reply\r\nReply-Text: +OK accepted\r\n\r\nContent-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`,
    );
    for (const cut of [1, 7, 30, wire.length - 3]) {
      const p = new EslParser();
      const msgs = [...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))];
      assert.deepEqual(
        msgs.map((m) => [m.headers['Content-Type'], m.headers['Reply-Text'], m.body]),
        [
          ['auth/request', undefined, ''],
          ['command/reply', '+OK accepted', ''],
          ['api/response', undefined, body],
        ],
        `cut at ${cut}`,
      );
    }
  });

  it('decodes plain events (URL-encoded, inner body; "+" stays) and JSON events', () => {
    const plain = formatPlainEvent({ 'Event-Name': 'BACKGROUND_JOB', 'Caller-Caller-ID-Number': '+33 1 23', 'Job-UUID': 'j1' }, '+OK done\n');
    assert.match(plain, /Caller-Caller-ID-Number: %2B33%201%2023/);
    const e = parseEvent({ headers: { 'Content-Type': 'text/event-plain' }, body: plain })!;
    assert.deepEqual([e.name, e.headers['Caller-Caller-ID-Number'], e.body], ['BACKGROUND_JOB', '+33 1 23', '+OK done\n']);
    const j = parseEvent({ headers: { 'Content-Type': 'text/event-json' }, body: JSON.stringify({ 'Event-Name': 'CHANNEL_ANSWER', 'Unique-ID': 'u', _body: 'x' }) })!;
    assert.deepEqual([j.name, j.headers['Unique-ID'], j.body], ['CHANNEL_ANSWER', 'u', 'x']);
  });
});

describe('bridge plumbing', () => {
  it('FileFollower waits for the file, follows appends, ends after stop with every byte', async () => {
    const file = path.join(tempDir(), 'rec.raw');
    const f = new FileFollower(file, 5);
    const got = drain<Buffer>(f);
    await new Promise((r) => setTimeout(r, 30));
    fs.writeFileSync(file, 'abc');
    await new Promise((r) => setTimeout(r, 30));
    fs.appendFileSync(file, 'def');
    f.stop();
    fs.appendFileSync(file, 'g'); // written before the follower's last read
    assert.equal(Buffer.concat(await got).toString(), 'abcdefg');
  });

  it('FileFollower on a recording that never started ends empty after stop', async () => {
    const f = new FileFollower(path.join(tempDir(), 'never.raw'), 5);
    const got = drain<Buffer>(f);
    setTimeout(() => f.stop(), 20);
    assert.deepEqual(await got, []);
  });

  it('parses recognizer lines, carrying a UTF-8 character split between reads', async () => {
    const bytes = Buffer.from('0 1200  Composez votre numéro\n1201 2400  suivi du dièse', 'utf8');
    const cut = bytes.indexOf(Buffer.from('é')) + 1;
    const lines = await drain<TranscriptLine>(Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]).pipe(new TranscriptLineParser()));
    assert.deepEqual(lines, [
      { startMs: 0, endMs: 1200, text: ' Composez votre numéro' },
      { startMs: 1201, endMs: 2400, text: ' suivi du dièse' },
    ]);
  });

  it('Upsample2x: twice the samples, input kept on even samples, smooth in between, split-invariant', async () => {
    const n = 800;
    const x = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) x.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), 2 * i);
    const whole = Buffer.concat(await drain<Buffer>(Readable.from([x]).pipe(new Upsample2x())));
    const split = Buffer.concat(await drain<Buffer>(Readable.from([x.subarray(0, 333), x.subarray(333, 1001), x.subarray(1001)]).pipe(new Upsample2x())));
    assert.equal(whole.length, 4 * n);
    assert.deepEqual(split, whole);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(whole.readInt16LE(4 * i), x.readInt16LE(2 * i));
      if (i > 8 && i < n - 8) {
        const ideal = 8000 * Math.sin((2 * Math.PI * 440 * (i + 0.5)) / 8000);
        worst = Math.max(worst, Math.abs(whole.readInt16LE(4 * i + 2) - ideal));
      }
    }
    assert.ok(worst < 80, `interpolation error ${worst} of 8000`);
  });
});

describe('simulstream bridge against a fake FreeSWITCH', () => {
  let lm: LoadedModel;
  let asr: SimulstreamServer;
  let asrPort: number;
  let fs1: FakeFreeswitch;
  const expected = new Map<string, string>();
  const pcm = (f: string): Int16Array => {
    const b = toyPcm(f);
    return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  };
  const asLines = (stored: StoredLine[]): string => stored.map((l) => formatLine(l.start_ms, l.end_ms, l.text)).join('');

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    // the bridge sends in real time: without catch-up, a loaded machine cannot change its transcripts
    asr = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, catchUp: false });
    asrPort = (await asr.listen()).port;
    for (const n of TOY_CLIPS) {
      const segs = await streamPcm(toyPcm(`${n}.wav`), { model: lm, ...OPTS });
      expected.set(n, segs.map((s) => formatLine(s.startMs, s.endMs, s.text)).join(''));
    }
    fs1 = new FakeFreeswitch();
    await fs1.start();
  });
  after(async () => {
    await fs1.stop();
    await asr.close();
    await lm.release();
  });

  function bridge(outDir: string, extra: Partial<Parameters<typeof createBridge>[0]> = {}): Bridge {
    return createBridge({ port: fs1.port, recognizer: tcpRecognizer(`127.0.0.1:${asrPort}`), outDir, recordDir: tempDir(), backoffMs: [50, 200], ...extra });
  }

  async function cli(args: string[]): Promise<{ code: number; out: string }> {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    try {
      await buildCli({ stdout: out, stderr: new PassThrough() }).parseAsync(['node', 'simulstream', ...args]);
      return { code: 0, out: text };
    } catch (err) {
      return { code: err instanceof SimulstreamError ? 1 : 2, out: text };
    }
  }

  it('--test-connection: says what works, and what does not', async () => {
    const ok = await cli(['bridge', '--test-connection', '--esl-port', String(fs1.port), '--server', `127.0.0.1:${asrPort}`]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /^ESL 127\.0\.0\.1:\d+: OK \(logged in; FreeSWITCH \(Version 1\.10\.12 fake\) is ready\)$/m);
    assert.match(ok.out, /^recognizer 127\.0\.0\.1:\d+: OK \(accepts connections\)$/m);
    const bad = await cli(['bridge', '--test-connection', '--esl-port', String(fs1.port), '--esl-password', 'wrong', '--server', '127.0.0.1:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^ESL 127\.0\.0\.1:\d+: FAILED \(FreeSWITCH at 127\.0\.0\.1:\d+ rejected the password \(-ERR invalid\)\)$/m);
    assert.match(bad.out, /^recognizer 127\.0\.0\.1:1: FAILED \(cannot reach the recognizer at 127\.0\.0\.1:1: connect ECONNREFUSED/m);
  });

  it('--uuid: one call, recorded at 16 kHz unbuffered, stored transcript = transcribe, raw file deleted', async () => {
    const out = tempDir();
    const b = bridge(out);
    await b.connect();
    fs1.addCall({ uuid: 'call-1', caller: '+33612345678', callee: '3001', audio: pcm('fr-000.wav'), rate: 16000 });
    fs1.answer('call-1');
    const call = await b.transcribeCall('call-1');
    await call.done;
    await b.close();
    const stored = readTranscript(path.join(out, 'call-1.jsonl'));
    assert.equal(asLines(stored), expected.get('fr-000'));
    assert.ok(stored.every((l) => l.caller === '+33612345678' && l.callee === '3001' && l.leg === 'mixed'));
    assert.ok(fs1.commands.includes('api uuid_setvar call-1 record_sample_rate 16000'));
    assert.ok(fs1.commands.includes('api uuid_setvar call-1 enable_file_write_buffering false'));
    assert.ok(fs1.commands.some((c) => /^api uuid_record call-1 start \S+\/fs_call-1\.raw$/.test(c)));
    assert.ok(!fs.readdirSync(path.dirname(fs1.commands.find((c) => c.includes('uuid_record call-1 start'))!.split(' ').at(-1)!)).length);
  });

  it('--auto: 5 overlapping calls, each its own transcript; lines go back as CUSTOM asr::transcript', async () => {
    const out = tempDir();
    const b = bridge(out, { sendEvents: true });
    await b.connect();
    await b.auto();
    const clips = [...TOY_CLIPS, TOY_CLIPS[0]];
    clips.forEach((n, i) => {
      fs1.addCall({ uuid: `auto-${i}`, caller: `10${i}`, callee: '3000', audio: pcm(`${n}.wav`), rate: 16000 });
      setTimeout(() => fs1.answer(`auto-${i}`), i * 400);
    });
    // an outbound leg is not transcribed by default
    fs1.addCall({ uuid: 'auto-out', caller: '3000', callee: '0612', direction: 'outbound', audio: pcm('en-000.wav'), rate: 16000 });
    fs1.answer('auto-out');
    await waitFor(() => clips.every((_, i) => fs.existsSync(path.join(out, `auto-${i}.jsonl`))) && b.calls.size === 0, 30_000);
    await b.close();
    clips.forEach((n, i) => assert.equal(asLines(readTranscript(path.join(out, `auto-${i}.jsonl`))), expected.get(n), `call ${i} (${n})`));
    assert.ok(!fs.existsSync(path.join(out, 'auto-out.jsonl')));
    const events = fs1.sentEvents.filter((e) => e.headers['Event-Subclass'] === 'asr::transcript' && e.headers['Unique-ID'] === 'auto-1');
    assert.equal(events.length, readTranscript(path.join(out, 'auto-1.jsonl')).length);
  });

  it("through a server set to behave as SimulStreaming, a call's stored lines are SimulStreaming's own updates (peer reference)", async () => {
    const peer = fs
      .readFileSync(path.join(FIXTURES, 'peer', 'chunk0.5-ft25', 'fr-001.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { start: number; end: number; text: string });
    const compat = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, chunking: 'simulstreaming', repetitionGuard: false, maxTokensPerSecond: 0, suppressTimestamps: false });
    try {
      const out = tempDir();
      const b = bridge(out, { recognizer: tcpRecognizer(`127.0.0.1:${(await compat.listen()).port}`) });
      await b.connect();
      fs1.addCall({ uuid: 'peer-1', caller: '0611', callee: '3001', audio: pcm('fr-001.wav'), rate: 16000 });
      fs1.answer('peer-1');
      await (await b.transcribeCall('peer-1')).done;
      await b.close();
      const stored = readTranscript(path.join(out, 'peer-1.jsonl'));
      assert.deepEqual(
        stored.map((l) => l.text),
        peer.map((u) => u.text),
      );
      stored.forEach((l, i) => {
        // the text protocol rounds times to the millisecond
        assert.ok(Math.abs(l.start_ms - peer[i]!.start * 1000) <= 1 && Math.abs(l.end_ms - peer[i]!.end * 1000) <= 1, `line ${i} times`);
      });
    } finally {
      await compat.close();
    }
  });

  it('FreeSWITCH restarting mid-call loses no stored line; a call that ended meanwhile is finished', async () => {
    const out = tempDir();
    const b = bridge(out);
    await b.connect();
    await b.auto();
    fs1.addCall({ uuid: 'r-long', caller: '201', callee: '3000', audio: pcm('fr-001.wav'), rate: 16000 });
    fs1.addCall({ uuid: 'r-short', caller: '202', callee: '3000', audio: pcm('en-001.wav').subarray(0, 16000), rate: 16000 });
    fs1.answer('r-long');
    fs1.answer('r-short');
    await waitFor(() => b.calls.size === 2, 5000);
    await new Promise((r) => setTimeout(r, 300));
    await fs1.restart(1500); // r-short hangs up while the socket is down: its hangup event is lost
    await waitFor(() => b.calls.size === 0, 20_000);
    await b.close();
    assert.equal(asLines(readTranscript(path.join(out, 'r-long.jsonl'))), expected.get('fr-001'));
    assert.ok(fs1.commands.filter((c) => c.startsWith('auth ')).length >= 2, 'logged in again');
    assert.ok(fs1.commands.includes('api uuid_exists r-short') || fs1.commands.includes('api uuid_exists r-long'));
  });

  it('JSON events, and a FreeSWITCH that writes in 64 KB bursts: the same transcript', async () => {
    const out = tempDir();
    const b = bridge(out, { format: 'json' });
    fs1.honourBufferingVar = false;
    try {
      await b.connect();
      await b.auto();
      fs1.addCall({ uuid: 'burst-1', caller: '301', callee: '3000', audio: pcm('fr-001.wav'), rate: 16000 });
      fs1.answer('burst-1');
      await waitFor(() => fs.existsSync(path.join(out, 'burst-1.jsonl')) && b.calls.size === 0, 20_000);
    } finally {
      fs1.honourBufferingVar = true;
      await b.close();
    }
    assert.ok(fs1.commands.includes('event json CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE RECORD_STOP BACKGROUND_JOB'));
    assert.equal(asLines(readTranscript(path.join(out, 'burst-1.jsonl'))), expected.get('fr-001'));
  });

  it('--legs both: caller and callee recorded and transcribed separately, lines tagged by leg', async () => {
    const out = tempDir();
    const b = bridge(out, { legs: 'both', keepAudio: true });
    await b.connect();
    fs1.addCall({ uuid: 'legs-1', caller: '401', callee: '3000', audio: pcm('fr-000.wav'), calleeAudio: pcm('en-000.wav'), rate: 16000 });
    fs1.answer('legs-1');
    await (await b.transcribeCall('legs-1')).done;
    await b.close();
    const stored = readTranscript(path.join(out, 'legs-1.jsonl'));
    assert.equal(asLines(stored.filter((l) => l.leg === 'caller')), expected.get('fr-000'));
    // the callee's recording starts a moment after the caller's and lasts the whole call: what it
    // holds (kept with keepAudio) is what its transcript must match
    const file = fs1.commands.find((c) => c.includes('uuid_record legs-1 start') && c.includes('_callee'))!.split(' ')[4]!;
    const segs = await streamPcm(fs.readFileSync(file), { model: lm, ...OPTS });
    assert.ok(segs.length > 0);
    assert.equal(asLines(stored.filter((l) => l.leg === 'callee')), segs.map((x) => formatLine(x.startMs, x.endMs, x.text)).join(''));
    assert.ok(fs1.commands.some((c) => /^api uuid_record legs-1 start \S+fs_legs-1_caller\.raw 0 \{RECORD_READ_ONLY=true\}$/.test(c)));
  });

  it('--test: places a call with originate and transcribes it', async () => {
    const out = tempDir();
    const b = bridge(out);
    fs1.originateAudio = pcm('en-000.wav');
    await b.connect();
    const call = await b.testCall('loopback/9196');
    await call.done;
    await b.close();
    assert.ok(fs1.commands.some((c) => /^bgapi originate \{origination_caller_id_number=simulstream-test\}loopback\/9196 &park\(\)$/.test(c)));
    assert.equal(asLines(readTranscript(path.join(out, `${call.call.uuid}.jsonl`))), expected.get('en-000'));
  });

  it('an 8 kHz telephone prompt, resampled by the bridge: complete, timely, nothing lost', async () => {
    const out = tempDir();
    const b = bridge(out, { recordRate: 8000, keepAudio: true });
    const wav = new WaveFile(fs.readFileSync(path.join(FIXTURES, 'telephone', 'fr-agent-pass.wav')));
    assert.equal((wav.fmt as { sampleRate: number }).sampleRate, 8000);
    const audio = wav.getSamples(false, Int16Array) as unknown as Int16Array;
    await b.connect();
    fs1.addCall({ uuid: 'tel-1', caller: '0140000000', callee: '3000', audio, rate: 8000 });
    const duration = audio.length / 8000;
    // the caller is still speaking: the call's clock stands at 60 % of the prompt until a line is stored
    const release = fs1.holdAt('tel-1', duration * 0.6);
    fs1.answer('tel-1');
    const call = await b.transcribeCall('tel-1');
    await waitFor(() => readTranscript(path.join(out, 'tel-1.jsonl')).length > 0, 60_000);
    const early = readTranscript(path.join(out, 'tel-1.jsonl'));
    release();
    assert.ok(early.every((l) => l.end_ms <= duration * 600), 'lines stored before the rest of the call was spoken');
    await call.done;
    await b.close();
    const raw = fs1.commands.find((c) => c.includes('uuid_record tel-1 start'))!.split(' ').at(-1)!;
    assert.equal(fs.statSync(raw).size, audio.length * 2, 'the whole call was recorded at 8 kHz');
    const stored = readTranscript(path.join(out, 'tel-1.jsonl'));
    assert.ok(stored.length > early.length, 'lines came back after the hold too');
    assert.deepEqual(stored.slice(0, early.length), early);
    // the recognizer got 16 kHz audio: the final line ends at the call's full length
    assert.ok(Math.abs(stored.at(-1)!.end_ms / 1000 - duration) < 0.05, `last line ends at ${stored.at(-1)!.end_ms} ms of ${duration} s`);
  });
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
const { WaveFile } = wavefile;
