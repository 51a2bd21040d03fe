// The switches' WebSocket port: mod_audio_stream, mod_audio_fork and jambonz clients written from
// ../shared/notes/telephony-streaming.md, each call's lines compared with `simulstream transcribe`'s
// (streamPcm, the CLI's pipeline) of the same audio at the same rate, the message shapes exact, the
// text against the v3 manifest's reference with a WER bound; hostile clients among honest ones.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { RationalResampler } from '../lib/audio/rational-resampler.js';
import { readTranscript, type StoredLine } from '../lib/bridge/transcript-store.js';
import { Upsample2x } from '../lib/bridge/upsample.js';
import { SimulstreamError } from '../lib/errors.js';
import { werCounts } from '../lib/eval/wer.js';
import { createHttpServer, type HttpServer } from '../lib/http/http-server.js';
import { ServerMetrics } from '../lib/metrics/server-metrics.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createCallMonitor, type CallMonitor } from '../lib/monitor/call-monitor.js';
import { serverStreamsObserver } from '../lib/monitor/server-streams.js';
import type { IdentifiedCall, ServerObserver } from '../lib/server/observer.js';
import { createServer, type ServerOptions, type SimulstreamServer } from '../lib/server/server.js';
import { formatLine, formatMs } from '../lib/stream/line-format.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import type { Segment } from '../lib/stream/utf8-carry.js';
import { freePort, prng } from './helpers/clients.js';
import { until } from './helpers/wait.js';
import { nodeChild } from './helpers/cli.js';
import { captureLog } from './helpers/log-capture.js';
import { mib, watchResources } from './helpers/resources.js';
import { gatedModel } from './helpers/faulty-model.js';
import { ROOT, TOY, tempDir, testCacheDir, toyClipsManifest, toyPcm } from './helpers/fixtures.js';
import { metric } from './helpers/prometheus.js';
import { audioSocketCall, frames, interleave, padTo, switchCall } from './helpers/switch-clients.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

/** Who the server says each call is, and how each ended. */
function calls(): ServerObserver & { identified: Map<string, IdentifiedCall>; closed: Map<string, { code: string } | undefined>; uuidClosed(uuid: string): Promise<{ code: string } | undefined> } {
  const identified = new Map<string, IdentifiedCall>();
  const closed = new Map<string, { code: string } | undefined>();
  const waiting: { uuid: string; resolve: (e: { code: string } | undefined) => void }[] = [];
  const check = (): void => {
    for (const w of [...waiting]) {
      const peer = [...identified].find(([, c]) => c.uuid === w.uuid)?.[0];
      if (peer !== undefined && closed.has(peer)) (waiting.splice(waiting.indexOf(w), 1), w.resolve(closed.get(peer)));
    }
  };
  return {
    identified,
    closed,
    callIdentified: (peer, c) => void identified.set(peer, c),
    streamClosed: (peer, e) => {
      closed.set(peer, e);
      check();
    },
    uuidClosed: (uuid) => new Promise((resolve) => (waiting.push({ uuid, resolve }), check())),
  };
}

const textLines = (segs: readonly Segment[]): string => segs.filter((s) => s.text !== '').map((s) => formatLine(s.startMs, s.endMs, s.text)).join('');
const storedLines = (stored: readonly StoredLine[]): string => stored.map((l) => formatLine(l.start_ms, l.end_ms, l.text)).join('');
/** The fields every dialect's transcription carries, as the notes and the issue spell them. */
const fields = (s: Segment, uuid: string, leg: string): Record<string, unknown> => ({ uuid, leg, start_ms: Number(formatMs(s.startMs)), end_ms: Number(formatMs(s.endMs)), text: s.text, is_final: s.final });

async function bytesOf(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of stream) out.push(b as Buffer);
  return Buffer.concat(out);
}
const upsample = (pcm8k: Buffer): Promise<Buffer> => bytesOf(Readable.from([pcm8k]).pipe(new Upsample2x()));
const downsample = (pcm16k: Buffer): Promise<Buffer> => bytesOf(Readable.from([pcm16k]).pipe(new RationalResampler(16000, 8000)));

describe('the switches\' WebSocket port', () => {
  let lm: LoadedModel;
  let wsPort: number;
  let outDir: string;
  const log = captureLog();
  const seen = calls();
  const servers: SimulstreamServer[] = [];
  const transcribe = (pcm16k: Buffer): Promise<Segment[]> => streamPcm(pcm16k, { model: lm, ...OPTS });
  const start = async (o: Partial<ServerOptions>): Promise<{ server: SimulstreamServer; ws: number; tcp: number }> => {
    const s = createServer({ model: lm, host: '127.0.0.1', port: 0, wsPort: 0, ...OPTS, catchUp: false, ...o });
    servers.push(s);
    const a = await s.listen();
    return { server: s, ws: a.ws!.port, tcp: a.port };
  };

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    outDir = tempDir();
    // a switch sends in real time: without catch-up, a loaded machine cannot change the transcripts
    const s = await start({ outDir, logger: log.logger, observers: [seen] });
    wsPort = s.ws;
  });
  after(async () => {
    for (const s of servers) await s.close();
    await lm.release();
  });

  it('mod_audio_stream, mono 16 kHz: metadata first, 20 ms frames; each line back as mod_audio_stream\'s JSON; at hang-up the final pass is stored', async () => {
    const pcm = toyPcm('fr-000.wav');
    const segs = await transcribe(pcm);
    const live = segs.filter((s) => s.text !== '' && !s.final);
    assert.ok(live.length >= 2 && segs.some((s) => s.final && s.text !== ''), 'lines while the call goes on, and a final pass');
    const c = switchCall(`ws://127.0.0.1:${wsPort}/audio_stream?mix=mono&rate=16000`);
    await c.opened;
    c.ws.send(JSON.stringify({ uuid: 'as-mono-1', caller: '+33612345678', callee: '3001' }));
    await c.sendFrames(frames(pcm, 640));
    await c.messagesAtLeast(live.length);
    c.ws.close(1000, 'Normal closure'); // the call hangs up
    assert.deepEqual((await c.closed).code, 1000);
    assert.equal(await seen.uuidClosed('as-mono-1'), undefined, 'the call ended well');
    assert.deepEqual(c.messages, live.map((s) => ({ type: 'transcription', ...fields(s, 'as-mono-1', 'caller') })));
    const stored = readTranscript(path.join(outDir, 'as-mono-1.jsonl'));
    assert.equal(storedLines(stored), textLines(segs), 'every line stored, the final pass\'s too');
    assert.ok(stored.every((l) => l.caller === '+33612345678' && l.callee === '3001' && l.leg === 'caller' && l.call_uuid === 'as-mono-1'));
    const ref = toyClipsManifest().find((m) => m.audio.endsWith('fr-000.wav'))!;
    const wer = werCounts(ref.text, segs.map((s) => s.text).join(''), 'fr');
    assert.ok(wer.errors / wer.words < 0.5, `WER ${wer.errors}/${wer.words} against the v3 manifest's text`);
  });

  it('mod_audio_stream, stereo: each leg against its own channel (left = caller, right = callee), odd-length frames carried, metadata after the first audio', async () => {
    const left = toyPcm('fr-000.wav');
    const right = toyPcm('fr-001.wav');
    const n = Math.max(left.length, right.length);
    const [segL, segR] = await Promise.all([transcribe(padTo(left, n)), transcribe(padTo(right, n))]);
    const stereo = interleave(left, right);
    // frames cut anywhere: inside a sample, inside a stereo frame
    const cut = frames(stereo, [1279, 1, 3, 641, 2, 4095, 7]);
    const c = switchCall(`ws://127.0.0.1:${wsPort}/audio_stream?mix=stereo&rate=16000`);
    await c.opened;
    await c.sendFrames(cut.slice(0, 5));
    c.ws.send(JSON.stringify({ 'Unique-ID': 'as-stereo-1', 'Caller-Caller-ID-Number': '0611', 'Caller-Destination-Number': '3002' }));
    await c.sendFrames(cut.slice(5));
    const liveL = segL.filter((s) => s.text !== '' && !s.final);
    const liveR = segR.filter((s) => s.text !== '' && !s.final);
    await c.messagesAtLeast(liveL.length + liveR.length);
    c.ws.close(1000);
    await seen.uuidClosed('as-stereo-1');
    const legOf = (leg: string): Record<string, unknown>[] => c.messages.filter((m) => m.leg === leg);
    assert.deepEqual(legOf('caller'), liveL.map((s) => ({ type: 'transcription', ...fields(s, 'as-stereo-1', 'caller') })));
    assert.deepEqual(legOf('callee'), liveR.map((s) => ({ type: 'transcription', ...fields(s, 'as-stereo-1', 'callee') })));
    const stored = readTranscript(path.join(outDir, 'as-stereo-1.jsonl'));
    assert.equal(storedLines(stored.filter((l) => l.leg === 'caller')), textLines(segL));
    assert.equal(storedLines(stored.filter((l) => l.leg === 'callee')), textLines(segR));
    assert.notEqual(textLines(segL), textLines(segR), 'the two channels say different things');
    assert.deepEqual(seen.identified.get([...seen.identified].find(([, x]) => x.uuid === 'as-stereo-1')![0])!.legs, ['caller', 'callee']);
  });

  it('mod_audio_stream at 8 kHz (the bridge\'s resampler), no metadata, a text frame that is not JSON: a generated id, the lines of the upsampled audio', async () => {
    const pcm8k = await downsample(toyPcm('fr-001.wav'));
    const segs = await transcribe(await upsample(pcm8k));
    const before = new Set(seen.identified.keys());
    const c = switchCall(`ws://127.0.0.1:${wsPort}/audio_stream?rate=8000`);
    await c.opened;
    c.ws.send('hello, not JSON');
    await c.sendFrames(frames(pcm8k, 320));
    const live = segs.filter((s) => s.text !== '' && !s.final);
    await c.messagesAtLeast(live.length);
    c.ws.close(1000);
    await until(() => [...seen.identified.keys()].some((p) => !before.has(p) && seen.closed.has(p)), 'the call to end');
    const [, call] = [...seen.identified].find(([p]) => !before.has(p))!;
    assert.match(call.uuid, /^audio_stream-[0-9a-f-]{36}$/u);
    assert.deepEqual([call.caller, call.callee, call.protocol], ['', '', 'audio_stream']);
    assert.deepEqual(c.messages, live.map((s) => ({ type: 'transcription', ...fields(s, call.uuid, 'caller') })));
    assert.equal(storedLines(readTranscript(path.join(outDir, `${call.uuid}.jsonl`))), textLines(segs));
    assert.match(log.text(), /\| WARNING \| Client audio_stream \('127\.0\.0\.1', \d+\): a text frame that is not a JSON object was ignored: "hello, not JSON"/u);
  });

  it('mod_audio_fork: the audio.drachtio.org subprotocol on any path, frames of any size, a zero-length frame flushes the finals, then the server closes', async () => {
    const pcm = toyPcm('fr-001.wav');
    const segs = await transcribe(pcm);
    const rand = prng(7);
    const sizes = Array.from({ length: 40 }, () => 1 + Math.floor(rand() * 9000));
    const c = switchCall(`ws://127.0.0.1:${wsPort}/fork/calls?mix=mono&rate=16000`, { protocols: ['audio.drachtio.org'] });
    await c.opened;
    assert.equal(c.ws.protocol, 'audio.drachtio.org');
    c.ws.send(JSON.stringify({ 'Unique-ID': 'af-1', 'Caller-Caller-ID-Number': '0622', 'Caller-Destination-Number': '3003' }));
    await c.sendFrames(frames(pcm, sizes));
    c.ws.send(Buffer.alloc(0)); // graceful-shutdown
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    const all = segs.filter((s) => s.text !== '');
    assert.deepEqual(c.messages, all.map((s) => ({ type: 'transcription', data: fields(s, 'af-1', 'caller') })));
    assert.ok(c.messages.some((m) => (m.data as { is_final: boolean }).is_final), 'the final pass came back before the close');
    assert.equal(storedLines(readTranscript(path.join(outDir, 'af-1.jsonl'))), textLines(segs));
  });

  it('jambonz: a Bearer token, start (fr-FR, 16 kHz, interim results), audio, stop: the utterance so far after each line, then the whole one as final; the server closes', async () => {
    const { ws } = await start({ wsToken: 'sekret', logger: log.logger });
    const refused = switchCall(`ws://127.0.0.1:${ws}/jambonz`);
    await assert.rejects(refused.opened, /HTTP 401/u);
    const wrong = switchCall(`ws://127.0.0.1:${ws}/jambonz`, { headers: { Authorization: 'Bearer nope' } });
    await assert.rejects(wrong.opened, /HTTP 401/u);
    const pcm = toyPcm('fr-001.wav');
    const segs = await transcribe(pcm);
    const c = switchCall(`ws://127.0.0.1:${ws}/jambonz`, { headers: { Authorization: 'Bearer sekret' } });
    await c.opened;
    c.ws.send(JSON.stringify({ type: 'start', language: 'fr-FR', format: 'raw', encoding: 'LINEAR16', sampleRateHz: 16000, interimResults: true }));
    await c.sendFrames(frames(pcm, 3200));
    c.ws.send(JSON.stringify({ type: 'stop' }));
    assert.equal((await c.closed).code, 1000, 'jambonz does not close: the server does');
    const expected: Record<string, unknown>[] = [];
    let utterance = '';
    for (const s of segs) {
      utterance += s.text;
      if (!s.final && s.text !== '') expected.push({ type: 'transcription', is_final: false, alternatives: [{ transcript: utterance.trim() }], channel: 1, language: 'fr-FR' });
    }
    expected.push({ type: 'transcription', is_final: true, alternatives: [{ transcript: utterance.trim() }], channel: 1, language: 'fr-FR' });
    assert.deepEqual(c.messages, expected);
    const ref = toyClipsManifest().find((m) => m.audio.endsWith('fr-001.wav'))!;
    const wer = werCounts(ref.text, utterance, 'fr');
    assert.ok(wer.errors / wer.words < 0.5, `WER ${wer.errors}/${wer.words}: "${utterance.trim()}" vs "${ref.text}"`);
    // ?token= works too
    const q = switchCall(`ws://127.0.0.1:${ws}/jambonz?token=sekret`);
    await q.opened;
    q.ws.send(JSON.stringify({ type: 'stop' }));
    assert.equal((await q.closed).code, 1000);
  });

  it('jambonz at 8 kHz, interim results off: only the final; out-of-order messages get {"type":"error"}; audio before start or an unknown language ends the call (1008)', async () => {
    const pcm8k = await downsample(toyPcm('fr-000.wav'));
    const segs = await transcribe(await upsample(pcm8k));
    const c = switchCall(`ws://127.0.0.1:${wsPort}/jambonz`);
    await c.opened;
    c.ws.send('{not json');
    c.ws.send(JSON.stringify({ type: 'start', language: 'fr-FR', format: 'raw', encoding: 'LINEAR16', sampleRateHz: 8000, interimResults: false }));
    c.ws.send(JSON.stringify({ type: 'start', language: 'fr-FR', sampleRateHz: 8000 }));
    c.ws.send(JSON.stringify({ type: 'dance' }));
    await c.sendFrames(frames(pcm8k, 320));
    c.ws.send(JSON.stringify({ type: 'stop' }));
    assert.equal((await c.closed).code, 1000);
    assert.deepEqual(c.messages, [
      { type: 'error', error: 'not a JSON message: {not json' },
      { type: 'error', error: 'start: the recognition has already started' },
      { type: 'error', error: 'unknown message type "dance" (expected "start" or "stop")' },
      { type: 'transcription', is_final: true, alternatives: [{ transcript: segs.map((s) => s.text).join('').trim() }], channel: 1, language: 'fr-FR' },
    ]);
    const early = switchCall(`ws://127.0.0.1:${wsPort}/jambonz`);
    await early.opened;
    early.ws.send(Buffer.alloc(640));
    assert.deepEqual(await early.closed, { code: 1008, reason: 'jambonz: audio before the start message' });
    assert.deepEqual(early.messages, [{ type: 'error', error: 'audio before the start message' }]);
    const klingon = switchCall(`ws://127.0.0.1:${wsPort}/jambonz`);
    await klingon.opened;
    klingon.ws.send(JSON.stringify({ type: 'start', language: 'tlh-QO', sampleRateHz: 16000 }));
    assert.equal((await klingon.closed).code, 1008);
    assert.equal(klingon.messages.length, 1);
    assert.match(String(klingon.messages[0]!.error), /^start: .*tlh/u);
  });

  it('before the upgrade: 404 for another path, 400 for a rate or layout it cannot serve, 426 for plain HTTP', async () => {
    await assert.rejects(switchCall(`ws://127.0.0.1:${wsPort}/nowhere`).opened, /HTTP 404/u);
    await assert.rejects(switchCall(`ws://127.0.0.1:${wsPort}/audio_stream?rate=4000`).opened, /HTTP 400/u);
    await assert.rejects(switchCall(`ws://127.0.0.1:${wsPort}/audio_fork?mix=quad`).opened, /HTTP 400/u);
    const r = await fetch(`http://127.0.0.1:${wsPort}/audio_stream`);
    assert.equal(r.status, 426);
  });

  it('shutdown: an open mod_audio_stream call gets its final pass\'s messages, then 1001', async () => {
    const { server: s, ws } = await start({});
    const pcm = toyPcm('en-000.wav');
    const segs = await transcribe(pcm);
    const c = switchCall(`ws://127.0.0.1:${ws}/audio_stream`);
    await c.opened;
    c.ws.send(JSON.stringify({ uuid: 'drain-1' }));
    await c.sendFrames(frames(pcm, 640));
    await c.messagesAtLeast(segs.filter((x) => x.text !== '' && !x.final).length);
    await s.close();
    assert.equal((await c.closed).code, 1001);
    assert.deepEqual(c.messages, segs.filter((x) => x.text !== '').map((x) => ({ type: 'transcription', ...fields(x, 'drain-1', 'caller') })));
  });

  it('hostile clients cost bounded resources; two honest calls among them get their transcripts', async (t) => {
    const hostile = captureLog();
    const obs = calls();
    const { server: s, ws } = await start({ outDir, logger: hostile.logger, observers: [obs] });
    const url = `ws://127.0.0.1:${ws}`;
    // warm: first-use allocations are not a leak
    const warm = switchCall(`${url}/audio_fork`);
    await warm.opened;
    await warm.sendFrames([toyPcm('en-001.wav'), Buffer.alloc(0)]);
    await warm.closed;
    const watch = watchResources();
    const rand = prng(19);

    const honestPcm = [toyPcm('fr-000.wav'), toyPcm('en-001.wav')];
    const honestSegs = await Promise.all(honestPcm.map((p) => transcribe(p)));
    const honest = honestPcm.map(async (pcm, i) => {
      const c = switchCall(`${url}/audio_fork`);
      await c.opened;
      c.ws.send(JSON.stringify({ uuid: `honest-${i}` }));
      await c.sendFrames([...frames(pcm, 640), Buffer.alloc(0)]);
      await c.closed;
      return c.messages;
    });
    // garbage in odd-length frames
    const garbage = [1, 2, 3].map(async (k) => {
      const c = switchCall(`${url}/audio_stream?mix=${k === 2 ? 'stereo' : 'mono'}`);
      await c.opened;
      const b = Buffer.alloc(1 + Math.floor(rand() * 48000));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
      await c.sendFrames(frames(b, [1, 3, 333, 1001, 4095]));
      c.ws.close(1000);
      await c.closed;
    });
    // a frame over 1 MiB: that call alone is closed (1009), its audio so far transcribed and stored
    const bigPcm = toyPcm('fr-001.wav').subarray(0, 32000 * 2);
    const bigSegs = await transcribe(bigPcm);
    const big = (async () => {
      const c = switchCall(`${url}/audio_stream`);
      await c.opened;
      c.ws.send(JSON.stringify({ uuid: 'too-big' }));
      await c.sendFrames(frames(bigPcm, 640));
      c.ws.send(Buffer.alloc((1 << 20) + 2));
      return c.closed;
    })();
    // vanishes mid-call (no close frame): what it sent is transcribed to its end and stored
    const halfPcm = toyPcm('en-000.wav').subarray(0, 32000 * 2);
    const halfSegs = await transcribe(halfPcm);
    const vanish = (async () => {
      const c = switchCall(`${url}/audio_stream`);
      await c.opened;
      c.ws.send(JSON.stringify({ uuid: 'vanished' }));
      await c.sendFrames(frames(halfPcm, 640));
      c.ws.terminate();
    })();
    // never reads what it is sent
    const deaf = (async () => {
      const c = switchCall(`${url}/audio_fork`);
      await c.opened;
      c.ws.pause();
      c.ws.send(JSON.stringify({ uuid: 'deaf' }));
      await c.sendFrames([...frames(toyPcm('fr-000.wav'), 640), Buffer.alloc(0)]);
      await obs.uuidClosed('deaf');
      c.ws.terminate();
    })();
    // connects and says nothing, then goes
    const silent = (async () => {
      const c = switchCall(`${url}/audio_stream`);
      await c.opened;
      c.ws.close();
      await c.closed;
    })();
    // handshakes that are not WebSocket ones
    const junk = new Promise<string>((resolve) => {
      const sock = net.connect(ws, '127.0.0.1', () => sock.end('GET /audio_stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
      let out = '';
      sock.on('data', (d) => (out += d.toString()));
      sock.on('close', () => resolve(out));
      sock.on('error', () => {});
    });

    const [h] = await Promise.all([Promise.all(honest), Promise.all(garbage), big, vanish, deaf, silent, junk]);
    h.forEach((msgs, i) =>
      assert.deepEqual(
        msgs,
        honestSegs[i]!.filter((x) => x.text !== '').map((x) => ({ type: 'transcription', data: fields(x, `honest-${i}`, 'caller') })),
        `honest call ${i}`,
      ),
    );
    assert.deepEqual(await big, { code: 1009, reason: '' });
    assert.deepEqual(await obs.uuidClosed('too-big'), { code: 'ERR_WS_FRAME_TOO_LARGE', message: 'a WebSocket frame of more than 1048576 bytes: the call is closed (code 1009)' });
    assert.equal(storedLines(readTranscript(path.join(outDir, 'too-big.jsonl'))), textLines(bigSegs));
    await obs.uuidClosed('vanished');
    assert.equal(storedLines(readTranscript(path.join(outDir, 'vanished.jsonl'))), textLines(halfSegs));
    assert.ok(readTranscript(path.join(outDir, 'deaf.jsonl')).length > 0);
    assert.match(await junk, /^HTTP\/1\.1 400/u);
    await until(() => s.connections === 0, 'every call to end');
    const r = await watch.settled();
    t.diagnostic(r.summary);
    assert.ok(r.rss1 - r.rss0 < 100 * 2 ** 20, `RSS after the barrage within 100 MiB of before (${mib(r.rss0)} → ${mib(r.rss1)} MiB)`);
    assert.match(hostile.text(), /\| ERROR \| Client audio_stream \('127\.0\.0\.1', \d+\): a WebSocket frame of more than 1048576 bytes/u);
  });

  it('300 WebSocket calls at once, with 4 TCP clients, against --max-connections 8: 4 calls served, 296 refused with 503 (logged once), no fd leak', async () => {
    const refusals = captureLog();
    const refusedBy: string[] = [];
    const { server: s, ws, tcp } = await start({ maxConnections: 8, logger: refusals.logger, observers: [{ connectionRefused: (_p, _r, protocol) => void refusedBy.push(protocol) }] });
    const watch = watchResources();
    const socks = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<net.Socket>((resolve) => {
        const so = net.connect({ port: tcp, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(so));
        so.on('data', () => {});
        so.on('error', () => {});
      })),
    );
    await until(() => s.connections === 4, 'the TCP clients');
    const all = Array.from({ length: 300 }, () => switchCall(`ws://127.0.0.1:${ws}/audio_stream`));
    const outcomes = await Promise.all(all.map((c) => c.opened.then(() => 'open', (e: Error) => e.message)));
    assert.equal(outcomes.filter((o) => o === 'open').length, 4);
    assert.equal(outcomes.filter((o) => o === 'HTTP 503').length, 296);
    assert.equal(s.connections, 8);
    assert.equal(refusedBy.length, 296);
    assert.ok(refusedBy.every((p) => p === 'audio_stream'));
    // a TCP client is refused too while the calls hold the places
    assert.equal(await new Promise<string>((resolve) => {
      const so = net.connect({ port: tcp, host: '127.0.0.1', allowHalfOpen: true }, () => so.end());
      let out = '';
      so.on('data', (d) => (out += d.toString()));
      so.on('end', () => resolve(out));
    }), '');
    for (const c of all) if (c.ws.readyState === c.ws.OPEN) c.ws.close();
    for (const so of socks) so.end();
    await Promise.all(all.map((c) => c.closed));
    await until(() => s.connections === 0, 'every stream to end');
    await watch.settled();
    assert.equal(refusals.text().match(/Refusing client/gu)?.length, 1, 'the first refusal is logged, the others counted');
    assert.match(refusals.text(), /Refused 296 more client\(s\) while at capacity/u);
  });

  it('metrics count calls and audio by protocol; the live page lists the calls with their caller and callee', async () => {
    const metrics = new ServerMetrics({ version: '0.0.0-test', maxStreams: 8 });
    const monitor: CallMonitor = createCallMonitor();
    const { server: s, ws, tcp } = await start({ observers: [metrics, serverStreamsObserver(monitor)] });
    const http: HttpServer = createHttpServer({ port: 0, handlers: [monitor.handler] });
    const httpPort = (await http.listen()).port;
    try {
      const pcm = toyPcm('en-000.wav');
      const c = switchCall(`ws://127.0.0.1:${ws}/audio_fork?mix=stereo`);
      await c.opened;
      c.ws.send(JSON.stringify({ uuid: 'page-1', caller: '0633', callee: '3004' }));
      await c.sendFrames([interleave(pcm, pcm), Buffer.alloc(0)]);
      await c.closed;
      const tcpOut = await new Promise<void>((resolve) => {
        const so = net.connect({ port: tcp, host: '127.0.0.1', allowHalfOpen: true }, () => so.end(pcm.subarray(0, 16000)));
        so.on('data', () => {});
        so.on('end', () => resolve());
      });
      void tcpOut;
      await until(() => s.connections === 0, 'both streams to end');
      const text = await metrics.registry.metrics();
      assert.equal(metric(text, 'simulstream_connections_accepted_total', { protocol: 'audio_fork' }), 1);
      assert.equal(metric(text, 'simulstream_connections_accepted_total', { protocol: 'tcp' }), 1);
      assert.equal(metric(text, 'simulstream_connections_accepted_total', { protocol: 'jambonz' }), 0);
      // a stereo call: each leg's 16 kHz audio counts
      assert.equal(metric(text, 'simulstream_audio_received_seconds_total', { protocol: 'audio_fork' }), (2 * pcm.length) / 32000);
      assert.equal(metric(text, 'simulstream_audio_received_seconds_total', { protocol: 'tcp' }), 0.5);
      assert.equal(metric(text, 'simulstream_streams_open', { protocol: 'audio_fork' }), 0);
      assert.equal(metric(text, 'simulstream_streams_closed_total', { protocol: 'audio_fork' }), 1);
      const day = (await (await fetch(`http://127.0.0.1:${httpPort}/api/day`)).json()) as { calls: { uuid: string; caller: string; callee: string; legs: string[] }[] };
      const listed = day.calls.find((x) => x.uuid === 'page-1');
      assert.deepEqual(listed && [listed.caller, listed.callee, listed.legs], ['0633', '3004', ['caller', 'callee']]);
      const tr = (await (await fetch(`http://127.0.0.1:${httpPort}/api/calls/page-1`)).json()) as { lines: { leg: string; text: string }[] };
      assert.deepEqual(
        tr.lines.filter((l) => l.leg === 'caller').map((l) => l.text),
        tr.lines.filter((l) => l.leg === 'callee').map((l) => l.text),
        'the same audio on both legs: the same lines',
      );
      assert.ok(tr.lines.length > 0);
    } finally {
      monitor.close();
      await http.close();
    }
  });
  it('backpressure: a client that sends faster than the model is paused; the server holds a bounded amount of its audio', async (t) => {
    const gated = gatedModel(lm);
    let taken = 0;
    const { ws } = await start({ modelFor: () => gated, observers: [{ audioReceived: (_p, n) => void (taken += n) }] });
    const c = switchCall(`ws://127.0.0.1:${ws}/audio_stream`);
    await c.opened;
    const piece = Buffer.alloc(640 * 1024);
    for (let i = 0; i < piece.length; i += 2) piece.writeInt16LE(Math.round(3000 * Math.sin(i / 50)), i);
    for (let k = 0; k < 50; k++) c.ws.send(piece); // 32 MB as fast as the socket takes it
    // the transcriber has its first bytes, then the client's queue stops moving: the server stopped
    // reading (one that read on would have emptied it: loopback moves 32 MB in milliseconds)
    let last = -1;
    await until(() => {
      const queued = c.ws.bufferedAmount;
      const still = queued === last;
      last = queued;
      return taken > 0 && still;
    }, 'the client\'s queue to stop moving');
    assert.ok(c.ws.bufferedAmount > 16 * 2 ** 20, `the client still holds ${c.ws.bufferedAmount} bytes`);
    // each stage before the stalled model holds at most a frame or so (640 KiB here)
    assert.ok(taken <= 4 * piece.length, `the stalled transcriber took ${taken} bytes`);
    t.diagnostic(`32 MB sent as fast as possible to a stalled model: the client still holds ${mib(c.ws.bufferedAmount)} MiB, the transcriber took ${taken} bytes (${taken / piece.length} frames of 640 KiB)`);
    // the model gives up: the call fails at once, what is left of its audio is read and dropped
    gated.fail(new SimulstreamError('ERR_ONNX_RUNTIME', 'the stalled model gave up'));
    assert.deepEqual(await c.closed, { code: 1011, reason: 'the stalled model gave up' });
    assert.equal(c.messages.length, 1);
    const { uuid, ...rest } = c.messages[0]!;
    assert.match(String(uuid), /^audio_stream-[0-9a-f-]{36}$/u, 'no metadata came: a generated id');
    assert.deepEqual(rest, { type: 'error', leg: 'caller', code: 'ERR_ONNX_RUNTIME', message: 'the stalled model gave up' });
  });

  it('a line that cannot be stored (ERR_TRANSCRIPT_STORE) is logged once; the client still gets it', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'blocked.jsonl'));
    const storeLog = captureLog();
    const { ws } = await start({ outDir: dir, logger: storeLog.logger });
    const pcm = toyPcm('en-001.wav');
    const segs = await transcribe(pcm);
    const c = switchCall(`ws://127.0.0.1:${ws}/audio_fork`);
    await c.opened;
    c.ws.send(JSON.stringify({ uuid: 'blocked' }));
    await c.sendFrames([pcm, Buffer.alloc(0)]);
    await c.closed;
    assert.deepEqual(c.messages, segs.filter((x) => x.text !== '').map((x) => ({ type: 'transcription', data: fields(x, 'blocked', 'caller') })));
    assert.equal(storeLog.text().match(/ERR_TRANSCRIPT_STORE: call blocked: cannot store its lines in \S+blocked\.jsonl: EISDIR/gu)?.length, 1);
  });
});

describe('serve --ws-port --audiosocket-port --out-dir from the command line', () => {
  it('SIMULSTREAM_WS_TOKEN guards the WebSocket port; a jambonz call and an AudioSocket call are served and stored; SIGTERM exits 0', async () => {
    const [port, wsPort, asPort] = [await freePort(), await freePort(), await freePort()];
    const out = tempDir();
    const { child, log, exited } = nodeChild([
      path.join(ROOT, 'bin', 'simulstream.js'), 'serve', '--model_path', path.join(TOY, 'ggml-toy.bin'), '--models-dir', testCacheDir(),
      '--host', '127.0.0.1', '--port', String(port), '--ws-port', String(wsPort), '--audiosocket-port', String(asPort), '--out-dir', out,
      '--language', 'fr', '--min-chunk-size', '0.5', '--threads', '1', '--log-level', 'INFO',
    ], { env: { ...process.env, SIMULSTREAM_WS_TOKEN: 'from-env' } });
    try {
      await log.until(/AudioSocket calls on 127\.0\.0\.1:\d+/u, 'the listeners');
      assert.match(log.text(), new RegExp(`WebSocket calls \\(/audio_stream, /audio_fork, /jambonz\\) on 127\\.0\\.0\\.1:${wsPort}`, 'u'));
      await assert.rejects(switchCall(`ws://127.0.0.1:${wsPort}/jambonz`).opened, /HTTP 401/u);
      const c = switchCall(`ws://127.0.0.1:${wsPort}/jambonz`, { headers: { Authorization: 'Bearer from-env' } });
      await c.opened;
      c.ws.send(JSON.stringify({ type: 'start', language: 'fr-FR', format: 'raw', encoding: 'LINEAR16', sampleRateHz: 16000, interimResults: false }));
      await c.sendFrames(frames(toyPcm('fr-000.wav'), 3200));
      c.ws.send(JSON.stringify({ type: 'stop' }));
      await c.closed;
      assert.equal(c.messages.length, 1);
      assert.equal((c.messages[0] as { is_final: boolean }).is_final, true);
      const uuid = '44444444-5555-6666-7777-888888888888';
      await audioSocketCall(asPort, uuid, await downsample(toyPcm('fr-001.wav')));
      await until(() => fs.existsSync(path.join(out, `${uuid}.jsonl`)), 'the AudioSocket call\'s lines');
      assert.ok(fs.readdirSync(out).some((f) => f.startsWith('jambonz-')), 'the jambonz call stored under a generated id');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
