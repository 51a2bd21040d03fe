import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
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
import { createServer } from '../lib/server/server.js';
import { formatLine } from '../lib/stream/line-format.js';
import { useBridgeRig } from './helpers/bridge-rig.js';
import { FIXTURES, tempDir, toyPcm } from './helpers/fixtures.js';
import { clipWer, peerText, peerUpdates, sameLines, simulStreamingOptions } from './helpers/peer.js';
import { until } from './helpers/wait.js';

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
  it('FileFollower waits for the file, follows appends as they come, ends after stop with every byte', async () => {
    const file = path.join(tempDir(), 'rec.raw');
    const f = new FileFollower(file, 5);
    let read = '';
    f.on('data', (b: Buffer) => (read += b.toString()));
    const ended = new Promise<void>((r) => f.on('end', () => r()));
    assert.ok(!fs.existsSync(file));
    fs.writeFileSync(file, 'abc');
    await until(() => read === 'abc', 'the file read once it exists, before any stop');
    fs.appendFileSync(file, 'def');
    await until(() => read === 'abcdef', 'the append read as it comes');
    fs.appendFileSync(file, 'g'); // written after the follower last caught up, just before the writer says it is done
    f.stop();
    await ended;
    assert.equal(read, 'abcdefg');
  });

  it('FileFollower on a recording that never started ends empty after stop', async () => {
    const f = new FileFollower(path.join(tempDir(), 'never.raw'), 5);
    const got = drain<Buffer>(f);
    setImmediate(() => f.stop());
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
  // The recognizer behaves as SimulStreaming (its chunking, none of our differences, the final pass
  // of its file simulation) and does not catch up: every stored transcript is SimulStreaming's
  // lines for the same clip, whatever the machine's load.
  const rig = useBridgeRig({ ...simulStreamingOptions('defaults', 'fr'), catchUp: false });
  const pcm = (f: string): Int16Array => {
    const b = toyPcm(f);
    return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  };
  const asLines = (stored: StoredLine[]): string => stored.map((l) => formatLine(l.start_ms, l.end_ms, l.text)).join('');
  const assertPeer = (stored: StoredLine[], file: string, what = file): void => {
    const want = peerText('defaults', file);
    assert.ok(sameLines(asLines(stored), want), `${what}: SimulStreaming's lines\n${want}\ngot\n${asLines(stored)}`);
  };

  function bridge(outDir: string, extra: Partial<Parameters<typeof createBridge>[0]> = {}): Bridge {
    return createBridge({ port: rig.fs.port, recognizer: tcpRecognizer(`127.0.0.1:${rig.asrPort}`), outDir, recordDir: tempDir(), backoffMs: [50, 200], ...extra });
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
    const ok = await cli(['bridge', '--test-connection', '--esl-port', String(rig.fs.port), '--server', `127.0.0.1:${rig.asrPort}`]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /^ESL 127\.0\.0\.1:\d+: OK \(logged in; FreeSWITCH \(Version 1\.10\.12 fake\) is ready\)$/m);
    assert.match(ok.out, /^recognizer 127\.0\.0\.1:\d+: OK \(accepts connections\)$/m);
    const bad = await cli(['bridge', '--test-connection', '--esl-port', String(rig.fs.port), '--esl-password', 'wrong', '--server', '127.0.0.1:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^ESL 127\.0\.0\.1:\d+: FAILED \(FreeSWITCH at 127\.0\.0\.1:\d+ rejected the password \(-ERR invalid\)\)$/m);
    assert.match(bad.out, /^recognizer 127\.0\.0\.1:1: FAILED \(cannot reach the recognizer at 127\.0\.0\.1:1: connect ECONNREFUSED/m);
  });

  it("--uuid: one call, recorded at 16 kHz unbuffered, stored transcript = SimulStreaming's lines, raw file deleted", async () => {
    const out = tempDir();
    const b = bridge(out);
    await b.connect();
    rig.fs.addCall({ uuid: 'call-1', caller: '+33612345678', callee: '3001', audio: pcm('fr-000.wav'), rate: 16000 });
    rig.fs.answer('call-1');
    const call = await b.transcribeCall('call-1');
    await call.done;
    await b.close();
    const stored = readTranscript(path.join(out, 'call-1.jsonl'));
    assertPeer(stored, 'fr-000.wav');
    assert.ok(stored.every((l) => l.caller === '+33612345678' && l.callee === '3001' && l.leg === 'mixed'));
    assert.ok(rig.fs.commands.includes('api uuid_setvar call-1 record_sample_rate 16000'));
    assert.ok(rig.fs.commands.includes('api uuid_setvar call-1 enable_file_write_buffering false'));
    assert.ok(rig.fs.commands.some((c) => /^api uuid_record call-1 start \S+\/fs_call-1\.raw$/.test(c)));
    assert.ok(!fs.readdirSync(path.dirname(rig.fs.commands.find((c) => c.includes('uuid_record call-1 start'))!.split(' ').at(-1)!)).length);
  });

  it('--auto: 5 overlapping calls, each its own transcript; lines go back as CUSTOM asr::transcript', async () => {
    const out = tempDir();
    const b = bridge(out, { sendEvents: true });
    await b.connect();
    await b.auto();
    const clips = ['fr-000.wav', 'fr-001.wav', 'fr-000.wav', 'fr-001.wav', 'fr-000.wav'];
    clips.forEach((f, i) => rig.fs.addCall({ uuid: `auto-${i}`, caller: `10${i}`, callee: '3000', audio: pcm(f), rate: 16000 }));
    // an outbound leg is not transcribed by default
    rig.fs.addCall({ uuid: 'auto-out', caller: '3000', callee: '0612', direction: 'outbound', audio: pcm('en-000.wav'), rate: 16000 });
    rig.fs.answer('auto-out');
    // staggered: each call is answered once the one before it is being transcribed, so they overlap
    for (let i = 0; i < clips.length; i++) {
      rig.fs.answer(`auto-${i}`);
      await until(() => b.calls.has(`auto-${i}`), `call ${i} picked up`);
    }
    await until(() => clips.every((_, i) => fs.existsSync(path.join(out, `auto-${i}.jsonl`))) && b.calls.size === 0, 'every call transcribed');
    await b.close();
    clips.forEach((f, i) => assertPeer(readTranscript(path.join(out, `auto-${i}.jsonl`)), f, `call ${i} (${f})`));
    assert.ok(!fs.existsSync(path.join(out, 'auto-out.jsonl')));
    const events = rig.fs.sentEvents.filter((e) => e.headers['Event-Subclass'] === 'asr::transcript' && e.headers['Unique-ID'] === 'auto-1');
    assert.equal(events.length, readTranscript(path.join(out, 'auto-1.jsonl')).length);
  });

  it("through a server with SimulStreaming's 0.5 s chunks, a call's stored lines are its own updates, times to the millisecond", async () => {
    const peer = peerUpdates('chunk0.5-ft25', 'fr-001.wav').filter((u) => u.text !== '');
    const compat = createServer({ model: rig.lm, host: '127.0.0.1', port: 0, ...simulStreamingOptions('chunk0.5-ft25', 'fr'), catchUp: false });
    try {
      const out = tempDir();
      const b = bridge(out, { recognizer: tcpRecognizer(`127.0.0.1:${(await compat.listen()).port}`) });
      await b.connect();
      rig.fs.addCall({ uuid: 'peer-1', caller: '0611', callee: '3001', audio: pcm('fr-001.wav'), rate: 16000 });
      rig.fs.answer('peer-1');
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
    rig.fs.addCall({ uuid: 'r-long', caller: '201', callee: '3000', audio: pcm('fr-001.wav'), rate: 16000 });
    rig.fs.addCall({ uuid: 'r-short', caller: '202', callee: '3000', audio: pcm('fr-000.wav'), rate: 16000 });
    // r-short stays on the line until it is hung up, below, while the event socket is down
    rig.fs.holdAt('r-short', 0.5);
    rig.fs.answer('r-long');
    rig.fs.answer('r-short');
    await until(() => b.calls.size === 2, 'both calls picked up');
    await until(() => fs.existsSync(path.join(out, 'r-long.jsonl')), 'a first line of r-long stored');
    await rig.fs.down();
    rig.fs.hangup('r-short'); // its hangup event is lost: nobody is connected
    await rig.fs.up();
    await until(() => b.calls.size === 0, 'both calls finished');
    await b.close();
    assertPeer(readTranscript(path.join(out, 'r-long.jsonl')), 'fr-001.wav', 'the call that went on through the restart');
    assert.ok(rig.fs.commands.filter((c) => c.startsWith('auth ')).length >= 2, 'logged in again');
    assert.ok(rig.fs.commands.includes('api uuid_exists r-short'), 'asked whether the call that ended meanwhile still exists');
  });

  it('JSON events, and a FreeSWITCH that writes in 64 KB bursts: the same transcript', async () => {
    const out = tempDir();
    const b = bridge(out, { format: 'json' });
    rig.fs.honourBufferingVar = false;
    try {
      await b.connect();
      await b.auto();
      rig.fs.addCall({ uuid: 'burst-1', caller: '301', callee: '3000', audio: pcm('fr-001.wav'), rate: 16000 });
      rig.fs.answer('burst-1');
      await until(() => fs.existsSync(path.join(out, 'burst-1.jsonl')) && b.calls.size === 0, 'the call transcribed');
    } finally {
      rig.fs.honourBufferingVar = true;
      await b.close();
    }
    assert.ok(rig.fs.commands.includes('event json CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE RECORD_STOP BACKGROUND_JOB'));
    assertPeer(readTranscript(path.join(out, 'burst-1.jsonl')), 'fr-001.wav');
  });

  it('--legs both: caller and callee recorded and transcribed separately, lines tagged by leg', async () => {
    const out = tempDir();
    const b = bridge(out, { legs: 'both' });
    await b.connect();
    // both recordings begin at the call's first sample; the call lasts as long as the longer leg
    rig.fs.addCall({ uuid: 'legs-1', caller: '401', callee: '3000', audio: pcm('fr-000.wav'), calleeAudio: pcm('fr-001.wav'), rate: 16000, legsRecorded: 2 });
    rig.fs.answer('legs-1');
    await (await b.transcribeCall('legs-1')).done;
    await b.close();
    const stored = readTranscript(path.join(out, 'legs-1.jsonl'));
    assertPeer(stored.filter((l) => l.leg === 'caller'), 'fr-000.wav', 'the caller leg');
    // the callee's recording runs on in silence after it stops speaking, so SimulStreaming's lines for
    // its clip do not apply line for line: its words must be its own clip's, as accurately as SimulStreaming's
    const callee = stored.filter((l) => l.leg === 'callee').map((l) => l.text).join('');
    const w = clipWer(callee, 'fr-001.wav');
    assert.ok(w.ours <= w.simulstreaming + 10, `callee WER ${w.ours.toFixed(1)} % (SimulStreaming ${w.simulstreaming.toFixed(1)} %): ${callee}`);
    assert.ok(clipWer(callee, 'fr-000.wav').ours > w.ours + 30, 'the callee leg holds the callee, not the caller');
    assert.ok(rig.fs.commands.some((c) => /^api uuid_record legs-1 start \S+fs_legs-1_caller\.raw 0 \{RECORD_READ_ONLY=true\}$/.test(c)));
    assert.ok(rig.fs.commands.some((c) => /^api uuid_record legs-1 start \S+fs_legs-1_callee\.raw 0 \{RECORD_WRITE_ONLY=true\}$/.test(c)));
  });

  it('--test: places a call with originate and transcribes it', async () => {
    const out = tempDir();
    const b = bridge(out);
    rig.fs.originateAudio = pcm('fr-001.wav');
    await b.connect();
    const call = await b.testCall('loopback/9196');
    await call.done;
    await b.close();
    assert.ok(rig.fs.commands.some((c) => /^bgapi originate \{origination_caller_id_number=simulstream-test\}loopback\/9196 &park\(\)$/.test(c)));
    assertPeer(readTranscript(path.join(out, `${call.call.uuid}.jsonl`)), 'fr-001.wav');
  });

  it('an 8 kHz telephone prompt, resampled by the bridge: complete, timely, nothing lost', async () => {
    const out = tempDir();
    const b = bridge(out, { recordRate: 8000, keepAudio: true });
    const wav = new WaveFile(fs.readFileSync(path.join(FIXTURES, 'telephone', 'fr-agent-pass.wav')));
    assert.equal((wav.fmt as { sampleRate: number }).sampleRate, 8000);
    const audio = wav.getSamples(false, Int16Array) as unknown as Int16Array;
    await b.connect();
    rig.fs.addCall({ uuid: 'tel-1', caller: '0140000000', callee: '3000', audio, rate: 8000 });
    const duration = audio.length / 8000;
    // the caller is still speaking: the call's clock stands at 60 % of the prompt until a line is stored
    const release = rig.fs.holdAt('tel-1', duration * 0.6);
    rig.fs.answer('tel-1');
    const call = await b.transcribeCall('tel-1');
    await until(() => readTranscript(path.join(out, 'tel-1.jsonl')).length > 0, 'a line while the caller speaks');
    const early = readTranscript(path.join(out, 'tel-1.jsonl'));
    release();
    assert.ok(early.every((l) => l.end_ms <= duration * 600), 'lines stored before the rest of the call was spoken');
    await call.done;
    await b.close();
    const raw = rig.fs.commands.find((c) => c.includes('uuid_record tel-1 start'))!.split(' ').at(-1)!;
    assert.equal(fs.statSync(raw).size, audio.length * 2, 'the whole call was recorded at 8 kHz');
    const stored = readTranscript(path.join(out, 'tel-1.jsonl'));
    assert.ok(stored.length > early.length, 'lines came back after the hold too');
    assert.deepEqual(stored.slice(0, early.length), early);
    // the recognizer got 16 kHz audio: the final line ends at the call's full length
    assert.ok(Math.abs(stored.at(-1)!.end_ms / 1000 - duration) < 0.05, `last line ends at ${stored.at(-1)!.end_ms} ms of ${duration} s`);
  });
});

const { WaveFile } = wavefile;
