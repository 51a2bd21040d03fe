// `simulstream bridge --capture audio_stream`: FreeSWITCH (the fake, which plays the call over a real
// WebSocket as mod_audio_stream does) streams each call to `serve --ws-port`; the transcripts come
// back as CUSTOM mod_audio_stream::json events and the bridge stores them. No audio on disk.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createBridge, type Bridge, type BridgeOptions } from '../lib/bridge/bridge.js';
import { tcpRecognizer } from '../lib/bridge/recognizer.js';
import { readTranscript, type StoredLine } from '../lib/bridge/transcript-store.js';
import { SimulstreamError } from '../lib/errors.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { formatLine } from '../lib/stream/line-format.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import type { Segment } from '../lib/stream/utf8-carry.js';
import { until } from './helpers/wait.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;
const textLines = (segs: readonly Segment[]): string => segs.filter((s) => s.text !== '').map((s) => formatLine(s.startMs, s.endMs, s.text)).join('');
const storedLines = (stored: readonly StoredLine[]): string => stored.map((l) => formatLine(l.start_ms, l.end_ms, l.text)).join('');
const samples = (b: Buffer): Int16Array => new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

describe('bridge --capture audio_stream against a fake FreeSWITCH', () => {
  let lm: LoadedModel;
  let fake: FakeFreeswitch;
  const servers: SimulstreamServer[] = [];
  const serve = async (o: { wsToken?: string } = {}): Promise<{ ws: number; tcp: number; outDir: string }> => {
    const outDir = tempDir();
    // the switch sends in real time: without catch-up, a loaded machine cannot change the transcripts
    const s = createServer({ model: lm, host: '127.0.0.1', port: 0, wsPort: 0, ...OPTS, catchUp: false, outDir, ...o });
    servers.push(s);
    const a = await s.listen();
    return { ws: a.ws!.port, tcp: a.port, outDir };
  };
  const bridge = (o: Partial<BridgeOptions> & Pick<BridgeOptions, 'streamUrl'>): Bridge =>
    createBridge({ port: fake.port, recognizer: tcpRecognizer('127.0.0.1:1'), outDir: tempDir(), recordDir: tempDir(), capture: 'audio_stream', ...o });

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    fake = new FakeFreeswitch();
    await fake.start();
  });
  after(async () => {
    await fake.stop();
    for (const s of servers) await s.close();
    await lm.release();
  });

  it('stereo: uuid_audio_stream instead of uuid_record, each leg\'s lines back as mod_audio_stream::json and stored; the final pass after hang-up in the server\'s --out-dir', async () => {
    const srv = await serve();
    const out = tempDir();
    const recordDir = tempDir();
    let stored = 0;
    const b = bridge({ streamUrl: `ws://127.0.0.1:${srv.ws}`, outDir: out, recordDir, onLine: () => void stored++ });
    await b.connect();
    const caller = toyPcm('fr-000.wav');
    const callee = toyPcm('fr-001.wav');
    // what the fake plays: both directions as long as the longer, in whole 20 ms frames (the last padded)
    const played = Math.ceil(Math.max(caller.length, callee.length) / 640) * 640;
    const pad = (x: Buffer): Buffer => Buffer.concat([x, Buffer.alloc(played - x.length)]);
    const [segL, segR] = await Promise.all([streamPcm(pad(caller), { model: lm, ...OPTS }), streamPcm(pad(callee), { model: lm, ...OPTS })]);
    const live = (segs: Segment[]): Segment[] => segs.filter((s) => s.text !== '' && !s.final);
    fake.addCall({ uuid: 'cap-1', caller: '+33 6 12', callee: '3001', audio: samples(caller), calleeAudio: samples(callee), rate: 16000 });
    // the caller is still on the line at the end of its audio until the lines of the call so far are stored
    const release = fake.holdAt('cap-1', Math.max(caller.length, callee.length) / 32000);
    fake.answer('cap-1');
    const call = await b.transcribeCall('cap-1');
    await until(() => stored === live(segL).length + live(segR).length, 'the lines of the call so far');
    release();
    await call.done;
    await b.close();
    assert.equal(call.failure, null);
    const lines = readTranscript(path.join(out, 'cap-1.jsonl'));
    assert.equal(storedLines(lines.filter((l) => l.leg === 'caller')), textLines(live(segL)));
    assert.equal(storedLines(lines.filter((l) => l.leg === 'callee')), textLines(live(segR)));
    assert.ok(lines.every((l) => l.caller === '+33 6 12' && l.callee === '3001'));
    const cmd = fake.commands.find((c) => c.startsWith('api uuid_audio_stream cap-1 start'));
    assert.equal(cmd, `api uuid_audio_stream cap-1 start ws://127.0.0.1:${srv.ws}/audio_stream?mix=stereo&rate=16000 stereo 16k {"uuid":"cap-1","caller":"+33\\u00206\\u002012","callee":"3001"}`);
    assert.ok(!fake.commands.some((c) => c.includes('uuid_record')), 'no recording');
    assert.deepEqual(fs.readdirSync(recordDir), [], 'no audio on disk');
    assert.ok(fake.commands.includes('event plain CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE RECORD_STOP CUSTOM mod_audio_stream::json mod_audio_stream::disconnect mod_audio_stream::error BACKGROUND_JOB'));
    // the server's own store has every line, the final pass's too, with the metadata's caller and callee
    await until(() => servers[0]!.connections === 0, 'the server\'s call to end');
    const all = readTranscript(path.join(srv.outDir, 'cap-1.jsonl'));
    assert.equal(storedLines(all.filter((l) => l.leg === 'caller')), textLines(segL));
    assert.equal(storedLines(all.filter((l) => l.leg === 'callee')), textLines(segR));
    assert.ok(all.every((l) => l.caller === '+33 6 12'));
  });

  it('--ws-token: FreeSWITCH sends it as Authorization (STREAM_EXTRA_HEADERS); a wrong one fails the call with mod_audio_stream::error; --auto picks calls up', async () => {
    const srv = await serve({ wsToken: 'tok 1' });
    const out = tempDir();
    const good = bridge({ streamUrl: `ws://127.0.0.1:${srv.ws}/`, streamToken: 'tok 1', outDir: out });
    await good.connect();
    await good.auto();
    const pcm = toyPcm('en-001.wav');
    fake.addCall({ uuid: 'cap-2', caller: '0644', callee: '3005', audio: samples(pcm), rate: 16000 });
    fake.answer('cap-2');
    await until(() => readTranscript(path.join(out, 'cap-2.jsonl')).length > 0, 'a line of cap-2');
    await until(() => good.calls.size === 0, 'cap-2 to end');
    await good.close();
    assert.ok(fake.commands.includes('api uuid_setvar cap-2 STREAM_EXTRA_HEADERS {"Authorization":"Bearer\\u0020tok\\u00201"}'));

    const bad = bridge({ streamUrl: `ws://127.0.0.1:${srv.ws}`, streamToken: 'wrong' });
    await bad.connect();
    fake.addCall({ uuid: 'cap-3', caller: '0655', callee: '3006', audio: samples(pcm), rate: 16000 });
    fake.answer('cap-3');
    const call = await bad.transcribeCall('cap-3');
    await call.done;
    await bad.close();
    fake.hangup('cap-3');
    assert.ok(call.failure instanceof SimulstreamError && call.failure.code === 'ERR_RECOGNIZER', String(call.failure));
    assert.match(call.failure.message, /HTTP 401/u);
  });

  it('the bridge stopping mid-call sends uuid_audio_stream stop (FreeSWITCH closes the stream); an unknown call is -ERR; --capture audio_stream needs --ws-url', async () => {
    const srv = await serve();
    const out = tempDir();
    const b = bridge({ streamUrl: `ws://127.0.0.1:${srv.ws}`, outDir: out, legs: 'mixed' });
    await b.connect();
    assert.equal(await b.esl.api('uuid_audio_stream nope start ws://127.0.0.1:1/audio_stream mono 16k'), '-ERR Operation Failed\n');
    const pcm = toyPcm('fr-001.wav');
    fake.addCall({ uuid: 'cap-4', caller: '0666', callee: '3007', audio: samples(pcm), rate: 16000 });
    fake.holdAt('cap-4', 2);
    fake.answer('cap-4');
    await b.transcribeCall('cap-4');
    await until(() => readTranscript(path.join(out, 'cap-4.jsonl')).length > 0, 'a line of cap-4');
    await b.close();
    assert.ok(fake.commands.some((c) => c.startsWith('api uuid_audio_stream cap-4 start ws://') && c.includes('/audio_stream?mix=mixed&rate=16000 mixed 16k ')));
    assert.ok(fake.commands.includes('api uuid_audio_stream cap-4 stop'));
    await until(() => servers.at(-1)!.connections === 0, 'the server\'s call to end once FreeSWITCH closed it');
    assert.ok(readTranscript(path.join(out, 'cap-4.jsonl')).every((l) => l.leg === 'mixed'));
    fake.hangup('cap-4');
    assert.throws(() => createBridge({ port: fake.port, recognizer: tcpRecognizer('127.0.0.1:1'), outDir: tempDir(), capture: 'audio_stream' }), (e: SimulstreamError) => e.code === 'ERR_INVALID_OPTION' && /--ws-url/u.test(e.message));
  });
});
