// No caller can hurt another call: faults inside one stream, hostile clients, the observer, and the
// checks made before the server listens. Everything runs on loopback, bounded in count and time.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { main } from '../lib/cli/main.js';
import { ErrorCodes, SimulstreamError, StartupError } from '../lib/errors.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import type { ServerObserver } from '../lib/server/observer.js';
import { OutputWatch } from '../lib/server/output-watch.js';
import { SenderPace } from '../lib/server/sender-pace.js';
import { createServer, type ServerOptions, type SimulstreamServer } from '../lib/server/server.js';
import { PcmValidator } from '../lib/stream/pcm-validator.js';
import { transcriber } from '../lib/stream/transcriber.js';
import { Tokenizer } from '../lib/text/tokenizer.js';
import { ncClient, peerOf, prng } from './helpers/clients.js';
import { FakeModel } from './helpers/fake-model.js';
import { faultyModel } from './helpers/faulty-model.js';
import { TOY, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { assertPeerLines, parseLines, peerText, simulStreamingOptions } from './helpers/peer.js';
import { until } from './helpers/wait.js';
import { captureLog } from './helpers/log-capture.js';
import { mib, watchResources } from './helpers/resources.js';

/** Every stream behaves as SimulStreaming's, so that each honest client's lines are SimulStreaming's lines. */
const OPTS = { ...simulStreamingOptions('defaults', 'fr'), catchUp: false } as const;
const FILES = ['fr-000.wav', 'fr-001.wav', 'fr-000.wav', 'fr-001.wav'];

/** SimulStreaming's lines for a clip, within 1 ms. */

/** Records every observer call. */
function recorder(): ServerObserver & { calls: { name: string; args: unknown[] }[] } {
  const calls: { name: string; args: unknown[] }[] = [];
  const rec = (name: string) => (...args: unknown[]) => void calls.push({ name, args });
  return {
    calls,
    connectionAccepted: rec('connectionAccepted'),
    connectionRefused: rec('connectionRefused'),
    audioReceived: rec('audioReceived'),
    iteration: rec('iteration'),
    segment: rec('segment'),
    streamClosed: rec('streamClosed'),
  };
}

/** Fails the test if anything escapes as an uncaught exception or unhandled rejection meanwhile. */
function noEscapes(): { check: () => void } {
  const escaped: unknown[] = [];
  const onErr = (e: unknown): void => void escaped.push(e);
  process.on('uncaughtException', onErr);
  process.on('unhandledRejection', onErr);
  return {
    check: () => {
      process.off('uncaughtException', onErr);
      process.off('unhandledRejection', onErr);
      assert.deepEqual(escaped, [], 'nothing escaped to the process');
    },
  };
}

describe('server: a stream\'s failure is its own', () => {
  let lm: LoadedModel;
  const servers: SimulstreamServer[] = [];
  const start = async (o: Partial<ServerOptions>): Promise<number> => {
    const s = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, ...o });
    servers.push(s);
    return (await s.listen()).port;
  };

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(async () => {
    for (const s of servers) await s.close();
    await lm.release();
  });

  it('the model throws on one stream\'s 3rd call while four others stream: theirs are byte-identical to their solo runs', async () => {
    const guard = noEscapes();
    const log = captureLog();
    const obs = recorder();
    let accepted = 0;
    const faulty = faultyModel(lm, 3, () => new SimulstreamError('ERR_ONNX_RUNTIME', 'injected ONNX Runtime failure'));
    const port = await start({ logger: log.logger, observers: [obs], modelFor: () => (accepted++ === 0 ? faulty : lm) });
    let bad = '';
    const badOut = ncClient(port, toyPcm('fr-001.wav'), { onConnect: (s) => (bad = peerOf(s)) });
    await until(() => accepted === 1, 'the faulty client to be accepted');
    const outs = await Promise.all(FILES.map((f) => ncClient(port, toyPcm(f), { piece: 4001 })));
    outs.forEach((o, i) => assertPeerLines(o, FILES[i]!));
    // the failed stream's lines before its failure are SimulStreaming's first lines
    const before = parseLines(await badOut);
    assert.deepEqual(before.map((l) => l[2]), parseLines(peerText('defaults', 'fr-001.wav')).slice(0, before.length).map((l) => l[2]));
    assert.ok(faulty.calls() >= 3);
    assert.ok(log.text().includes(`| ERROR | Client ${bad}: injected ONNX Runtime failure`), log.text());
    const closed = obs.calls.filter((c) => c.name === 'streamClosed');
    assert.equal(closed.length, 5);
    assert.deepEqual(closed.find((c) => c.args[0] === bad)?.args[1], { code: 'ERR_ONNX_RUNTIME', message: 'injected ONNX Runtime failure' });
    assert.equal(closed.filter((c) => c.args[1] === undefined).length, 4);
    guard.check();
  });

  it('a JSON client whose stream hits an internal assertion gets one {"error": …} line; a failing set-up closes that connection only', async () => {
    const guard = noEscapes();
    const log = captureLog();
    const faulty = faultyModel(lm, 5, () => new TypeError('assertion failed: injected'));
    const port = await start({ format: 'json', logger: log.logger, modelFor: () => faulty });
    const lines = (await ncClient(port, toyPcm('fr-000.wav'))).trim().split('\n');
    assert.deepEqual(JSON.parse(lines.at(-1)!), { error: { code: 'ERR_INTERNAL', message: 'assertion failed: injected' } });
    let n = 0;
    const port2 = await start({ logger: log.logger, modelFor: () => {
      if (n++ === 0) throw new Error('injected set-up failure');
      return lm;
    } });
    const [first, second] = [await ncClient(port2, toyPcm('fr-001.wav')).catch((e: Error) => e.message), await ncClient(port2, toyPcm('fr-001.wav'))];
    assert.doesNotMatch(first, /^\d+ \d+ /mu, 'the connection whose set-up failed is closed without a line');
    assertPeerLines(second, 'fr-001.wav', 'the next connection');
    assert.match(log.text(), /\| ERROR \| Client \('127\.0\.0\.1', \d+\): injected set-up failure/u);
    guard.check();
  });

  // in the server's thread, and across worker threads (the 10 MB burst checks that backpressure crosses them)
  for (const workers of [0, 2]) it(`hostile clients cost bounded resources; two honest clients among them get their solo transcripts${workers ? ` (${workers} worker threads)` : ''}`, async (t) => {
    const guard = noEscapes();
    const log = captureLog();
    const obs = recorder();
    const server = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, logger: log.logger, observers: [obs], maxConnections: 24, ...(workers ? { workers } : {}) });
    servers.push(server);
    const { port } = await server.listen();
    // warm: first-use allocations are not a leak (each thread's: concurrent clients go to different threads)
    await Promise.all(Array.from({ length: Math.max(1, workers) }, () => ncClient(port, toyPcm('fr-000.wav'))));
    const watch = watchResources();
    const rand = prng(13);
    const received = new Map<string, number>();
    obs.audioReceived = (peer: string, n: number) => void received.set(peer, (received.get(peer) ?? 0) + n);

    const garbage = [1, 2, 3].map(() => {
      const b = Buffer.alloc(1 + Math.floor(rand() * 48000));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
      const sizes = Array.from({ length: 16 }, () => 1 + Math.floor(rand() * 5000));
      return ncClient(port, b, { piece: sizes });
    });
    const wav = ncClient(port, Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt '), toyPcm('fr-000.wav')]));
    const oddWrites = ncClient(port, toyPcm('fr-001.wav'), { piece: [1, 1, 3, 7, 333, 1001] });
    const empty = ncClient(port, Buffer.alloc(0));
    const instantReset = new Promise<void>((r) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.resetAndDestroy();
        r();
      });
    });
    let midPeer = '';
    const midReset = new Promise<void>((r, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        midPeer = peerOf(s);
        s.write(toyPcm('fr-000.wav').subarray(0, 40000));
        // reset once the server has started reading it
        until(() => (received.get(midPeer) ?? 0) > 0, 'the server reading it').then(() => (s.resetAndDestroy(), r()), reject);
      });
    });
    const slowloris = new Promise<string>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('end', () => (s.end(), resolve(out)));
      s.on('error', reject);
      let k = 0;
      const tick = setInterval(() => {
        s.write(Buffer.from([k & 0xff]));
        if (++k === 10) {
          clearInterval(tick);
          s.end();
        }
      }, 20);
    });
    // sends fast, never reads: the server finishes its stream and lets it go
    let deafPeer = '';
    const deaf = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      deafPeer = peerOf(deaf);
      deaf.pause();
      deaf.end(Buffer.concat([toyPcm('en-000.wav'), toyPcm('fr-000.wav')]));
    });
    deaf.on('error', () => {});
    // 10 MB as fast as TCP takes it, then a reset: the server reads only what it can process
    let burstPeer = '';
    const burst = new Promise<void>((r) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        burstPeer = peerOf(s);
        const mb = Buffer.alloc(10 * 2 ** 20);
        for (let i = 0; i < mb.length; i += 2) mb.writeInt16LE(Math.round(3000 * Math.sin(i / 50)), i);
        s.write(mb);
        // reset once the server has read half a megabyte: it reads only what it decodes, so far less than 10 MB
        void until(() => (received.get(burstPeer) ?? 0) >= 2 ** 19, 'the server reading the burst').then(() => (s.resetAndDestroy(), r()));
      });
      s.on('error', () => {});
    });
    const honest = Promise.all([ncClient(port, toyPcm('fr-000.wav'), { piece: 3200 }), ncClient(port, toyPcm('fr-001.wav'), { piece: 3200 })]);

    const [h, g, w, odd, e, , , slow] = await Promise.all([honest, Promise.all(garbage), wav, oddWrites, empty, instantReset, midReset, slowloris, burst]);
    assertPeerLines(h[0], 'fr-000.wav');
    assertPeerLines(h[1], 'fr-001.wav');
    g.forEach((o) => parseLines(o)); // garbage is decoded as audio: well-formed lines, if any
    assert.equal(w, '');
    assertPeerLines(odd, 'fr-001.wav', '1-byte and odd-sized writes');
    assert.equal(e, '');
    parseLines(slow);
    await until(() => obs.calls.some((c) => c.name === 'streamClosed' && c.args[0] === deafPeer), 'the deaf client\'s stream to close');
    deaf.destroy();
    const burstBytes = received.get(burstPeer) ?? 0;
    assert.ok(burstBytes > 0 && burstBytes < 8 * 2 ** 20, `the server read ${burstBytes} bytes of the 10 MB burst`);
    await until(() => server.connections === 0, 'every stream to close');
    const r = await watch.settled();
    t.diagnostic(`${r.summary}; burst bytes read ${burstBytes}`);
    assert.ok(r.rss1 - r.rss0 < 100 * 2 ** 20, `RSS after the barrage within 100 MiB of before (${mib(r.rss0)} → ${mib(r.rss1)} MiB)`);
    assert.match(log.text(), /\| ERROR \| Client \('127\.0\.0\.1', \d+\): the audio starts with a WAV/u);
    assert.ok(obs.calls.some((c) => c.name === 'streamClosed' && (c.args[1] as { code?: string } | undefined)?.code === 'ERR_CLIENT_GONE'));
    guard.check();
  });

  it('300 connections at once past --max-connections: 8 served, the rest refused politely (logged once), no fd leak', async () => {
    const log = captureLog();
    const obs = recorder();
    const server = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, format: 'json', logger: log.logger, observers: [obs], maxConnections: 8 });
    servers.push(server);
    const { port } = await server.listen();
    const watch = watchResources();
    const socks: net.Socket[] = [];
    const outs = Array.from({ length: 300 }, () =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        socks.push(s);
        let out = '';
        s.on('data', (d) => (out += d.toString()));
        s.on('end', () => (s.end(), resolve(out)));
        s.on('error', reject);
      }),
    );
    const refused = (): number => obs.calls.filter((c) => c.name === 'connectionRefused').length;
    await until(() => refused() === 292, '292 refusals');
    assert.equal(server.connections, 8);
    for (const s of socks) s.end(); // the 8 served ones end their (empty) streams
    const got = await Promise.all(outs);
    const busy = got.filter((o) => o !== '');
    assert.equal(busy.length, 292);
    for (const o of busy) assert.equal(JSON.parse(o).error.code, 'ERR_SERVER_BUSY');
    assert.equal(log.text().match(/Refusing client/gu)?.length, 1, 'the first refusal is logged, the others counted');
    await watch.settled();
    assert.match(log.text(), /Refused 291 more client\(s\) while at capacity/u);
    assert.ok(obs.calls.filter((c) => c.name === 'connectionRefused').every((c) => c.args[1] === 'capacity'));
  });

  it('tells the observer about connections, audio, iterations, segments and closed streams; a throwing observer breaks nothing', async () => {
    const obs = recorder();
    const port = await start({ observers: [obs], maxConnections: 1 });
    const pcm = toyPcm('fr-000.wav');
    let peer = '';
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const out = new Promise<string>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
        peer = peerOf(s);
        s.write(pcm);
        void held.then(() => s.end());
      });
      let o = '';
      s.on('data', (d) => (o += d.toString()));
      s.on('end', () => (s.end(), resolve(o)));
      s.on('error', reject);
    });
    await until(() => obs.calls.some((c) => c.name === 'connectionAccepted'), 'the first client');
    assert.equal(await ncClient(port, pcm), '', 'a second client is refused (max 1)');
    release();
    const text = await out;
    assertPeerLines(text, 'fr-000.wav');
    const of = (n: string) => obs.calls.filter((c) => c.name === n);
    assert.deepEqual(of('connectionAccepted').map((c) => c.args), [[peer, 'tcp']]);
    assert.equal(of('connectionRefused').length, 1);
    assert.equal(of('connectionRefused')[0]!.args[1], 'capacity');
    assert.equal(of('audioReceived').reduce((n, c) => n + (c.args[1] as number), 0), pcm.length);
    // SimulStreaming's file loop: one iteration per 1.2 s chunk (the last one shorter), then the final pass
    assert.equal(of('iteration').length, Math.ceil(pcm.length / 2 / 19200) + 1);
    for (const c of of('iteration')) assert.ok((c.args[2] as number) >= 0 && Array.isArray((c.args[1] as { tokens: unknown }).tokens));
    assert.equal(of('segment').length, text.split('\n').length - 1);
    for (const c of of('segment')) assert.ok((c.args[2] as number) >= 0, `lag ${String(c.args[2])}`);
    assert.deepEqual(of('streamClosed').map((c) => c.args), [[peer, undefined]]);

    const throwing: ServerObserver = Object.fromEntries(
      ['connectionAccepted', 'connectionRefused', 'audioReceived', 'iteration', 'segment', 'streamClosed'].map((n) => [n, () => { throw new Error(`observer ${n} broke`); }]),
    );
    const log = captureLog();
    const port2 = await start({ observers: [throwing], logger: log.logger, onSegment: () => { throw new Error('onSegment broke'); } });
    assertPeerLines(await ncClient(port2, pcm), 'fr-000.wav', 'with throwing observers');
    assert.match(log.text(), /observer segment failed: observer segment broke/u);
  });
});

describe('server start-up checks', () => {
  it('serve: an unknown language, heads out of range, a model that does not load, bad chunk sizes: exit 2, one line, nothing listened', async () => {
    const toy = ['--model_path', path.join(TOY, 'ggml-toy.bin'), '--models-dir', testCacheDir(), '--port', '0', '--host', '127.0.0.1'];
    const cases: [string[], RegExp][] = [
      [[...toy, '--language', 'xx'], /^simulstream: unknown language "xx"/mu],
      [[...toy, '--alignment_heads', '9,9'], /^simulstream: --alignment_heads: head 9,9 does not exist/mu],
      [['--model_path', '/nonexistent/ggml-none.bin', '--port', '0'], /^simulstream: .*ggml-none\.bin/mu],
      [[...toy, '--min-chunk-size', '0.5', '--audio_max_len', '0.4'], /^simulstream: --min-chunk-size: /mu],
    ];
    for (const [args, message] of cases) {
      const err: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
      let code: number;
      try {
        code = await main(['node', 'simulstream', 'serve', ...args]);
      } finally {
        process.stderr.write = write;
      }
      const text = err.join('');
      assert.equal(code, 2, `${args.join(' ')}: ${text}`);
      assert.match(text, message);
      assert.equal(text.match(/^simulstream: /gmu)?.length, 1, text);
      assert.doesNotMatch(text, /Listening on/u);
    }
  });

  it('createServer refuses, before listening, a language or translation an English-only model cannot do', () => {
    const en = { ...new FakeModel([]).asLoadedModel(), tokenizer: Tokenizer.forVocabSize(51864) };
    assert.throws(() => createServer({ model: en, language: 'fr' }), (e: SimulstreamError) => e.code === 'ERR_INVALID_OPTION' && /English-only/u.test(e.message));
    assert.throws(() => createServer({ model: en, language: 'en', task: 'translate' }), (e: SimulstreamError) => e.code === 'ERR_INVALID_OPTION' && /--task/u.test(e.message));
    assert.throws(() => createServer({ model: en, minChunkSize: 0 }), (e: SimulstreamError) => e.code === 'ERR_INVALID_OPTION');
    const multi = new FakeModel([]).asLoadedModel();
    assert.throws(() => createServer({ model: multi, language: 'xx' }), (e: SimulstreamError) => e.code === 'ERR_UNKNOWN_LANGUAGE');
    assert.throws(() => createServer({ model: multi, maxConnections: 0 }), (e: SimulstreamError) => e.code === 'ERR_INVALID_OPTION');
  });
});

describe('server pieces', () => {
  it('SenderPace: a real-time sender stays real-time; one that ever ran ahead stays a file sender', () => {
    let now = 0;
    const live = new SenderPace(1, 32000, () => now);
    for (let i = 0; i < 100; i++, now += 100) live.add(3200);
    live.add(32000); // a 1 s burst after a network hiccup: within the slack
    assert.equal(live.realTime, true);
    now = 0;
    const file = new SenderPace(1, 32000, () => now);
    file.add(65536);
    assert.equal(file.realTime, false);
    for (let i = 0; i < 1000; i++, now += 1000) file.add(100); // then slowed down by backpressure
    assert.equal(file.realTime, false);
  });

  it('OutputWatch: output blocked past the timeout, or queued past the cap, gives up once', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const stuck = (): Writable => new Writable({ highWaterMark: 4, write: () => {} });
    const out = stuck();
    const reasons: string[] = [];
    const w = new OutputWatch(out, 50, 1 << 20, (r) => reasons.push(r));
    out.write('hello');
    w.wrote();
    w.wrote();
    t.mock.timers.tick(49);
    assert.equal(reasons.length, 0, 'not before the timeout');
    t.mock.timers.tick(1);
    t.mock.timers.tick(500);
    assert.deepEqual(reasons, ['its output was not read for 0.05 s'], 'once');
    const out2 = stuck();
    const w2 = new OutputWatch(out2, 0, 8, (r) => reasons.push(r));
    out2.write('0123456789');
    w2.wrote();
    out2.write('more');
    w2.wrote();
    assert.equal(reasons.length, 2);
    assert.match(reasons[1]!, /^10 bytes of output queued \(cap 8\)$/u);
  });

  it('a stage that throws synchronously fails its transcriber through an error event, not out of write()', async () => {
    const original = PcmValidator.prototype._transform;
    PcmValidator.prototype._transform = () => {
      throw new RangeError('injected assertion');
    };
    try {
      const tr = transcriber({ model: new FakeModel([]).asLoadedModel(), language: 'fr' });
      const failed = new Promise<Error>((r) => tr.on('error', r)); // a chain reports a stage's error more than once
      assert.doesNotThrow(() => tr.write(Buffer.alloc(64)));
      assert.equal((await failed).message, 'injected assertion');
    } finally {
      PcmValidator.prototype._transform = original;
    }
  });

  it('new error codes have messages; StartupError keeps the cause\'s code', () => {
    for (const code of ['ERR_SERVER_BUSY', 'ERR_CLIENT_GONE', 'ERR_OUTPUT_STALLED', 'ERR_CALL_NOT_TRANSCRIBED', 'ERR_WS_FRAME_TOO_LARGE', 'ERR_STREAM_PROTOCOL', 'ERR_TRANSCRIPT_STORE'] as const) {
      assert.ok(ErrorCodes[code].length > 0);
      assert.equal(new SimulstreamError(code).code, code);
    }
    const e = new StartupError(new SimulstreamError('ERR_UNKNOWN_LANGUAGE', 'unknown language "xx"'));
    assert.equal(e.code, 'ERR_UNKNOWN_LANGUAGE');
    assert.equal(e.message, 'unknown language "xx"');
  });
});
