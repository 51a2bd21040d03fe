// Asterisk's AudioSocket: an Asterisk written from ../shared/notes/telephony-streaming.md (kind,
// big-endian length, payload; UUID first, audio 0x10 at 8 kHz and 0x11–0x18 at higher rates, DTMF,
// errors, hang-up), each call's stored lines compared with the transcript of the same audio
// brought to 16 kHz by the same resampler; broken peers among honest ones.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { RationalResampler } from '../lib/audio/rational-resampler.js';
import { readTranscript, type StoredLine } from '../lib/bridge/transcript-store.js';
import { Upsample2x } from '../lib/bridge/upsample.js';
import { werCounts } from '../lib/eval/wer.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import type { IdentifiedCall, ServerObserver } from '../lib/server/observer.js';
import { createServer, type ServerOptions, type SimulstreamServer } from '../lib/server/server.js';
import { formatLine } from '../lib/stream/line-format.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import type { Segment } from '../lib/stream/utf8-carry.js';
import { until } from './helpers/wait.js';
import { captureLog } from './helpers/log-capture.js';
import { watchResources } from './helpers/resources.js';
import { TOY, tempDir, testCacheDir, toyClipsManifest, toyPcm } from './helpers/fixtures.js';
import { audioSocketCall, audioSocketMessage, uuidBytes } from './helpers/switch-clients.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

/** How each call ended, by uuid. */
function ends(): ServerObserver & { byUuid(uuid: string): Promise<{ code: string; message: string } | undefined>; identified: IdentifiedCall[] } {
  const peers = new Map<string, string>();
  const closed = new Map<string, { code: string; message: string } | undefined>();
  const identified: IdentifiedCall[] = [];
  return {
    identified,
    callIdentified: (peer, c) => {
      peers.set(c.uuid, peer);
      identified.push(c);
    },
    streamClosed: (peer, e) => void closed.set(peer, e),
    byUuid: async (uuid) => {
      await until(() => closed.has(peers.get(uuid) ?? ''), `call ${uuid} to end`);
      return closed.get(peers.get(uuid)!);
    },
  };
}

const textLines = (segs: readonly Segment[]): string => segs.filter((s) => s.text !== '').map((s) => formatLine(s.startMs, s.endMs, s.text)).join('');
const storedLines = (stored: readonly StoredLine[]): string => stored.map((l) => formatLine(l.start_ms, l.end_ms, l.text)).join('');

async function through(pcm: Buffer, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of Readable.from([pcm]).pipe(stage)) out.push(b as Buffer);
  return Buffer.concat(out);
}

/** Sends raw bytes as Asterisk would (in pieces), then ends its side. */
function rawAsterisk(port: number, bytes: Buffer, piece = bytes.length): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      for (let i = 0; i < bytes.length; i += piece) s.write(bytes.subarray(i, i + piece));
      s.end();
    });
    s.on('data', () => {});
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

describe('Asterisk AudioSocket', () => {
  let lm: LoadedModel;
  const servers: SimulstreamServer[] = [];
  const transcribe = (pcm16k: Buffer): Promise<Segment[]> => streamPcm(pcm16k, { model: lm, ...OPTS });
  const start = async (o: Partial<ServerOptions> = {}): Promise<{ server: SimulstreamServer; port: number; tcp: number; outDir: string }> => {
    const outDir = tempDir();
    const s = createServer({ model: lm, host: '127.0.0.1', port: 0, audioSocketPort: 0, ...OPTS, catchUp: false, outDir, ...o });
    servers.push(s);
    const a = await s.listen();
    return { server: s, port: a.audioSocket!.port, tcp: a.port, outDir };
  };

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(async () => {
    for (const s of servers) await s.close();
    await lm.release();
  });

  it('the dialplan\'s AudioSocket(): UUID, 8 kHz audio (0x10) in 20 ms messages, DTMF ignored, an error logged with its code, hang-up: the lines of the upsampled audio, stored', async () => {
    const log = captureLog();
    const obs = ends();
    const { port, outDir } = await start({ logger: log.logger, observers: [obs] });
    const pcm8k = await through(toyPcm('fr-000.wav'), new RationalResampler(16000, 8000));
    const segs = await transcribe(await through(pcm8k, new Upsample2x()));
    const uuid = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    await audioSocketCall(port, uuid, pcm8k, { extra: [audioSocketMessage(0x03, Buffer.from('5')), audioSocketMessage(0xff, Buffer.from([0x01]))] });
    assert.equal(await obs.byUuid(uuid), undefined);
    const stored = readTranscript(path.join(outDir, `${uuid}.jsonl`));
    assert.equal(storedLines(stored), textLines(segs));
    assert.ok(stored.every((l) => l.leg === 'caller' && l.call_uuid === uuid));
    assert.deepEqual(obs.identified.map((c) => [c.uuid, c.protocol, c.legs]), [[uuid, 'audiosocket', ['caller']]]);
    assert.match(log.text(), /\| WARNING \| Client audiosocket \('127\.0\.0\.1', \d+\): Asterisk reports an error \(code 0x01: the caller hung up\)/u);
    const ref = toyClipsManifest().find((m) => m.audio.endsWith('fr-000.wav'))!;
    const wer = werCounts(ref.text, segs.map((s) => s.text).join(''), 'fr');
    assert.ok(wer.errors / wer.words < 0.5, `WER ${wer.errors}/${wer.words} at 8 kHz`);
  });

  it('16 kHz (0x12) split anywhere by TCP, odd-length payloads; 48 kHz (0x16); 0x11 read as 16 kHz when told; the socket\'s end without a hang-up runs the final pass', async () => {
    const obs = ends();
    const { port, outDir } = await start({ observers: [obs], audioSocketKind11Rate: 16000 });
    const pcm = toyPcm('fr-000.wav');
    const segs = await transcribe(pcm);
    // 16 kHz in odd-sized payloads, the whole stream written 7 bytes at a time
    const odd: Buffer[] = [audioSocketMessage(0x01, uuidBytes('11111111-2222-3333-4444-555555555555'))];
    for (let i = 0, k = 0; i < pcm.length; k++) {
      const n = [641, 1, 639, 1281][k % 4]!;
      odd.push(audioSocketMessage(0x12, pcm.subarray(i, i + n)));
      i += n;
    }
    odd.push(audioSocketMessage(0x00));
    const pcm48 = await through(toyPcm('en-000.wav'), new RationalResampler(16000, 48000));
    const segs48 = await transcribe(await through(pcm48, new RationalResampler(48000, 16000)));
    await Promise.all([
      rawAsterisk(port, Buffer.concat(odd), 7),
      audioSocketCall(port, '22222222-3333-4444-5555-666666666666', pcm48, { kind: 0x16, rate: 48000 }),
      audioSocketCall(port, '33333333-4444-5555-6666-777777777777', pcm, { kind: 0x11, rate: 16000, hangup: false }),
    ]);
    for (const u of ['11111111-2222-3333-4444-555555555555', '22222222-3333-4444-5555-666666666666', '33333333-4444-5555-6666-777777777777']) assert.equal(await obs.byUuid(u), undefined, u);
    assert.equal(storedLines(readTranscript(path.join(outDir, '11111111-2222-3333-4444-555555555555.jsonl'))), textLines(segs));
    assert.equal(storedLines(readTranscript(path.join(outDir, '22222222-3333-4444-5555-666666666666.jsonl'))), textLines(segs48));
    assert.equal(storedLines(readTranscript(path.join(outDir, '33333333-4444-5555-6666-777777777777.jsonl'))), textLines(segs));
  });

  it('broken peers: an unknown kind, a length past its payload, a rate change, a short UUID: a clear error for that call alone; the audio before it transcribed; an honest call unchanged; no fd leak', async () => {
    const log = captureLog();
    const obs = ends();
    const { server, port, outDir } = await start({ logger: log.logger, observers: [obs] });
    const watch = watchResources();
    const pcm8k = await through(toyPcm('en-001.wav'), new RationalResampler(16000, 8000));
    const honestSegs = await transcribe(await through(pcm8k, new Upsample2x()));
    const part = pcm8k.subarray(0, 8000 * 2 * 2); // 2 s
    const partSegs = await transcribe(await through(part, new Upsample2x()));
    const call = (uuid: string, body: Buffer[]): Buffer => Buffer.concat([audioSocketMessage(0x01, uuidBytes(uuid)), ...body]);
    const in20ms = (pcm: Buffer, kind = 0x10): Buffer[] => {
      const out: Buffer[] = [];
      for (let i = 0; i < pcm.length; i += 320) out.push(audioSocketMessage(kind, pcm.subarray(i, i + 320)));
      return out;
    };
    const badKind = call('aaaaaaaa-0000-0000-0000-000000000001', [...in20ms(part), audioSocketMessage(0x42, Buffer.alloc(9)), ...in20ms(pcm8k)]);
    const cutShort = Buffer.concat([call('aaaaaaaa-0000-0000-0000-000000000002', in20ms(part)), Buffer.from([0x10, 0x01, 0xf4]), Buffer.alloc(10)]);
    const rateChange = call('aaaaaaaa-0000-0000-0000-000000000003', [...in20ms(part), ...in20ms(pcm8k, 0x12)]);
    const shortUuid = Buffer.concat([audioSocketMessage(0x01, Buffer.from('abc')), ...in20ms(part), audioSocketMessage(0x00)]);
    await Promise.all([
      audioSocketCall(port, 'bbbbbbbb-0000-0000-0000-000000000000', pcm8k),
      rawAsterisk(port, badKind),
      rawAsterisk(port, cutShort, 333),
      rawAsterisk(port, rateChange),
      rawAsterisk(port, shortUuid),
      rawAsterisk(port, Buffer.alloc(0)),
    ]);
    assert.equal(await obs.byUuid('bbbbbbbb-0000-0000-0000-000000000000'), undefined);
    assert.equal(storedLines(readTranscript(path.join(outDir, 'bbbbbbbb-0000-0000-0000-000000000000.jsonl'))), textLines(honestSegs));
    assert.deepEqual(await obs.byUuid('aaaaaaaa-0000-0000-0000-000000000001'), { code: 'ERR_STREAM_PROTOCOL', message: 'AudioSocket: a message of unknown kind 0x42 (9 bytes)' });
    assert.deepEqual(await obs.byUuid('aaaaaaaa-0000-0000-0000-000000000002'), {
      code: 'ERR_STREAM_PROTOCOL',
      message: 'AudioSocket: a message of kind 0x10 declared 500 bytes of payload, but the stream ended after 10',
    });
    assert.deepEqual(await obs.byUuid('aaaaaaaa-0000-0000-0000-000000000003'), { code: 'ERR_STREAM_PROTOCOL', message: 'AudioSocket: the audio\'s rate changed mid-call from 8000 to 16000 Hz (kind 0x12)' });
    for (const n of [1, 2, 3]) assert.equal(storedLines(readTranscript(path.join(outDir, `aaaaaaaa-0000-0000-0000-00000000000${n}.jsonl`))), textLines(partSegs), `call ${n}: the audio before its error`);
    // the call whose UUID was short got a generated id; the one that sent nothing too, without legs
    const generated = obs.identified.filter((c) => c.uuid.startsWith('audiosocket-'));
    assert.deepEqual(generated.map((c) => c.legs).sort(), [[], ['caller']]);
    const named = generated.find((c) => c.legs.length > 0)!;
    assert.match(named.uuid, /^audiosocket-[0-9a-f-]{36}$/u);
    assert.equal(await obs.byUuid(named.uuid), undefined);
    assert.equal(storedLines(readTranscript(path.join(outDir, `${named.uuid}.jsonl`))), textLines(partSegs));
    assert.match(log.text(), /\| WARNING \| Client audiosocket \('127\.0\.0\.1', \d+\): a UUID message of 3 bytes \(expected 16\) was ignored/u);
    assert.match(log.text(), /\| ERROR \| Client audiosocket \('127\.0\.0\.1', \d+\): AudioSocket: a message of unknown kind 0x42/u);
    await until(() => server.connections === 0, 'every call to end');
    await watch.settled();
  });

  it('AudioSocket calls count against --max-connections with the other doors: past it, the socket is closed at once', async () => {
    const refused: string[] = [];
    const { server, port, tcp } = await start({ maxConnections: 1, observers: [{ connectionRefused: (_p, _r, protocol) => void refused.push(protocol) }] });
    const held = await new Promise<net.Socket>((resolve) => {
      const s = net.connect({ port: tcp, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
      s.on('data', () => {});
    });
    await until(() => server.connections === 1, 'the TCP client');
    await rawAsterisk(port, audioSocketMessage(0x01, uuidBytes('cccccccc-0000-0000-0000-000000000000')));
    assert.deepEqual(refused, ['audiosocket']);
    held.end();
    await until(() => server.connections === 0, 'the TCP client to go');
  });
});
