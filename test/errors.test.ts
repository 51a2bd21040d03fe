// Every error code, provoked through the code path a user hits, as undici's test/errors.js does:
// one row per code, each asserting the stable code (never the message) and a message that says
// something. A code added to lib/errors.ts without a row here fails the last test.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { openAudio } from '../lib/audio/audio-source.js';
import { readAudioFile } from '../lib/audio/wav.js';
import { createBridge } from '../lib/bridge/bridge.js';
import { EslClient } from '../lib/bridge/esl-client.js';
import { tcpRecognizer } from '../lib/bridge/recognizer.js';
import { AlignAttSession } from '../lib/decode/align-att.js';
import { ErrorCodes, errorInfo, SimulstreamError, type ErrorCode } from '../lib/errors.js';
import { catalogModel } from '../lib/model/catalog.js';
import { download } from '../lib/model/download.js';
import { expectedTensorShapes, OFFICIAL_DIMS } from '../lib/model/dims.js';
import { openCheckpoint } from '../lib/model/load-checkpoint.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { checkTensorShapes } from '../lib/model/tensor-check.js';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { createServer, type ServerAddresses, type ServerOptions } from '../lib/server/server.js';
import { OutputWatch } from '../lib/server/output-watch.js';
import { PcmValidator } from '../lib/stream/pcm-validator.js';
import { transcriber } from '../lib/stream/transcriber.js';
import { Tokenizer } from '../lib/text/tokenizer.js';
import { SileroVad } from '../lib/vad/silero-vad.js';
import { runCli, toyModelArgs } from './helpers/cli.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { FakeModel } from './helpers/fake-model.js';
import { REF_FIXTURES, tempDir, testCacheDir, TOY } from './helpers/fixtures.js';

const tmp = tempDir();
const file = (name: string, bytes: Buffer | string): string => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
};
const F16 = path.join(REF_FIXTURES, 'ggml-ref-f16.bin');
const fake = (): ReturnType<FakeModel['asLoadedModel']> => new FakeModel([]).asLoadedModel();
const closed: (() => Promise<void> | void)[] = [];

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server (fake model) whose first stream to end on an error gives that error; `act` drives a client. */
function firstStreamError(o: Partial<ServerOptions>, act: (a: ServerAddresses) => Promise<void>): Promise<{ code: string; message: string }> {
  return new Promise((resolve, reject) => {
    const srv = createServer({ model: fake(), host: '127.0.0.1', port: 0, ...o, observers: [{ streamClosed: (_p, e) => e && resolve(e) }] });
    closed.push(() => srv.close());
    srv.listen().then(act).catch(reject);
  });
}

/** Runs `f` and returns the SimulstreamError it threw or rejected with (the test fails otherwise). */
async function caught(f: () => unknown): Promise<SimulstreamError> {
  try {
    await f();
  } catch (err) {
    assert.ok(err instanceof SimulstreamError, `a SimulstreamError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

/** A CLI run's one-line error (the CLI turns the error into its message and exit code). */
async function cliError(args: string[]): Promise<{ code: number; line: string }> {
  const r = await runCli(args);
  return { code: r.code, line: r.stderr.trim() };
}

const ROWS: Record<ErrorCode, () => Promise<SimulstreamError | { code: string; message: string }>> = {
  ERR_CHECKPOINT_TRUNCATED: () => caught(() => openCheckpoint(file('cut.bin', fs.readFileSync(F16).subarray(0, 100_000)))),
  ERR_CHECKPOINT_FORMAT: () => caught(() => openCheckpoint(file('notes.txt', 'not a model\n'))),
  ERR_CHECKPOINT_TENSOR_TYPE: () => {
    const b = Buffer.from(fs.readFileSync(F16));
    b.writeInt32LE(42, b.indexOf('encoder.conv1.weight') - 16);
    return caught(() => openCheckpoint(file('badtype.bin', b)));
  },
  ERR_CHECKPOINT_TENSOR_SHAPE: () => {
    const shapes = expectedTensorShapes(OFFICIAL_DIMS.tiny!);
    const tensors = new Map([...shapes].map(([n, s]) => [n, { shape: n === 'encoder.conv1.weight' ? [1, 2, 3] : s, type: 'f32' as const }]));
    return caught(() => checkTensorShapes('tiny.pt', tensors, shapes));
  },
  ERR_CHECKPOINT_MISSING_TENSOR: () => {
    const shapes = expectedTensorShapes(OFFICIAL_DIMS.tiny!);
    const tensors = new Map([...shapes].filter(([n]) => n !== 'decoder.ln.weight').map(([n, s]) => [n, { shape: s, type: 'f32' as const }]));
    return caught(() => checkTensorShapes('tiny.pt', tensors, shapes));
  },
  ERR_INVALID_OPTION: () => caught(() => transcriber({ model: fake(), langauge: 'fr' } as never)),
  ERR_WAV_HEADER: () =>
    caught(() =>
      pipeline(Readable.from([Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt ')])]), new PcmValidator(), new Writable({ objectMode: true, write: (_c, _e, d) => d() })),
    ),
  ERR_AUDIO_FORMAT: () => caught(() => readAudioFile(file('broken.wav', Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE')])))),
  ERR_UNKNOWN_LANGUAGE: () => caught(() => transcriber({ model: fake(), language: 'xx' })),
  ERR_MODEL_NOT_FOUND: () => caught(() => catalogModel('huge')),
  ERR_DOWNLOAD: async () => {
    const srv = http.createServer((_q, res) => res.writeHead(500).end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closed.push(() => void srv.close());
    return caught(() => download(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/m.bin`, path.join(tmp, 'm.bin'), { retries: 0 }));
  },
  ERR_CHECKSUM: async () => {
    const srv = http.createServer((_q, res) => res.end('payload'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closed.push(() => void srv.close());
    return caught(() => download(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/m.bin`, path.join(tmp, 'c.bin'), { checksum: { algorithm: 'sha256', hex: '00'.repeat(32) } }));
  },
  ERR_ONNX_RUNTIME: () => caught(() => SileroVad.load(file('not-onnx.onnx', 'not an onnx model'))),
  ERR_VOCABULARY: () => caught(() => Tokenizer.forVocabSize(12345)),
  ERR_WORKER: async () => {
    // a worker thread that cannot open the server's compiled model (its file gone): listen() fails, nothing listens
    const lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    closed.push(() => lm.release());
    const gone: LoadedModel = { ...lm, source: { ...lm.source!, compiled: { ...lm.source!.compiled, encoderPath: path.join(tmp, 'no-encoder.onnx') } } };
    return caught(() => createServer({ model: gone, host: '127.0.0.1', port: 0, workers: 1 }).listen());
  },
  ERR_ADDRESS_IN_USE: async () => {
    const a = createServer({ model: fake(), host: '127.0.0.1', port: 0 });
    const { port } = await a.listen();
    closed.push(() => a.close());
    return caught(() => createServer({ model: fake(), host: '127.0.0.1', port }).listen());
  },
  ERR_LISTEN: () => caught(() => createServer({ model: fake(), host: '192.0.2.1', port: 0 }).listen()),
  ERR_WARMUP_FILE: async () => {
    const r = await cliError(['serve', ...toyModelArgs(), '--port', '0', '--host', '127.0.0.1', '--warmup-file', path.join(tmp, 'none.wav')]);
    assert.equal(r.code, 2);
    return { code: 'ERR_WARMUP_FILE', message: r.line };
  },
  ERR_ESL_CONNECT: async () => caught(async () => new EslClient({ port: await deadPort(), reconnect: false }).connect()),
  ERR_ESL_AUTH: async () => {
    const fsw = new FakeFreeswitch();
    await fsw.start();
    closed.push(() => fsw.stop());
    return caught(() => new EslClient({ port: fsw.port, password: 'wrong', reconnect: false }).connect());
  },
  ERR_ESL_COMMAND: async () => {
    const fsw = new FakeFreeswitch();
    await fsw.start();
    closed.push(() => fsw.stop());
    const b = createBridge({ port: fsw.port, recognizer: tcpRecognizer('127.0.0.1:9'), outDir: tmp, reconnect: false });
    await b.connect();
    closed.push(() => b.close());
    return caught(() => b.transcribeCall('no-such-call'));
  },
  ERR_RECOGNIZER: async () => caught(async () => tcpRecognizer(`127.0.0.1:${await deadPort()}`).open()),
  ERR_SERVER_BUSY: async () => {
    const s = createServer({ model: fake(), host: '127.0.0.1', port: 0, maxConnections: 1, format: 'json' });
    const { port } = await s.listen();
    closed.push(() => s.close());
    const held = net.connect({ port, host: '127.0.0.1' });
    closed.push(() => void held.destroy());
    await new Promise<void>((r) => held.on('connect', () => r()));
    await new Promise<void>((r) => setImmediate(r));
    const line = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ port, host: '127.0.0.1' });
      let out = '';
      c.on('data', (d: Buffer) => (out += d.toString()));
      c.on('end', () => (c.destroy(), resolve(out)));
      c.on('error', reject);
    });
    return (JSON.parse(line) as { error: { code: string; message: string } }).error;
  },
  ERR_CLIENT_GONE: async () => {
    const gone = new Promise<{ code: string; message: string }>((resolve) => {
      const srv = createServer({ model: fake(), host: '127.0.0.1', port: 0, observers: [{ streamClosed: (_p, e) => e && resolve(e) }] });
      void srv.listen().then(({ port }) => {
        closed.push(() => srv.close());
        const c = net.connect({ port, host: '127.0.0.1' }, () => c.resetAndDestroy());
        c.on('error', () => {});
      });
    });
    return gone;
  },
  ERR_OUTPUT_STALLED: async () => {
    // the server's watch of a client that never reads: its reason becomes the stream's ERR_OUTPUT_STALLED
    const out = new Writable({ highWaterMark: 1, write: () => {} });
    const reason = await new Promise<string>((resolve) => {
      const w = new OutputWatch(out, 0, 4, resolve);
      out.write('0123456789');
      w.wrote();
    });
    return new SimulstreamError('ERR_OUTPUT_STALLED', reason);
  },
  ERR_CALL_NOT_TRANSCRIBED: async () => {
    const fsw = new FakeFreeswitch();
    await fsw.start();
    closed.push(() => fsw.stop());
    fsw.addCall({ uuid: 'e-1', caller: '1', callee: '2', audio: new Int16Array(16000), rate: 16000 });
    fsw.answer('e-1');
    const r = await cliError(['bridge', '--uuid', 'e-1', '--esl-port', String(fsw.port), '--server', `127.0.0.1:${await deadPort()}`, '--recognizer-retries', '1', '--out-dir', tmp, '--record-dir', tmp]);
    assert.equal(r.code, 1);
    return { code: 'ERR_CALL_NOT_TRANSCRIBED', message: r.line };
  },
  ERR_INVALID_STATE: async () => {
    const s = new AlignAttSession(fake(), { language: 'fr', audioMinLen: 10 });
    await s.process(new Float32Array(1600));
    return caught(() => s.skip(160));
  },
  ERR_INTERNAL: async () => {
    // a foreign error inside a stream (a bug) reaches its client and the observers as ERR_INTERNAL
    const model = fake();
    const broken = { ...model, model: new Proxy(model.model, { get: (t, p) => (p === 'encode' ? () => { throw new TypeError('cannot read properties of undefined'); } : Reflect.get(t, p)) }) };
    const tr = transcriber({ model: broken, language: 'fr', minChunkSize: 0.1 });
    const err = await pipeline(Readable.from([Buffer.alloc(6400)]), tr, new Writable({ write: (_c, _e, d) => d() })).then(
      () => assert.fail('the stream should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TypeError);
    return errorInfo(err);
  },
  ERR_WS_FRAME_TOO_LARGE: () =>
    firstStreamError({ wsPort: 0 }, async (a) => {
      const ws = new WebSocket(`ws://127.0.0.1:${a.ws!.port}/audio_stream`);
      ws.on('error', () => {});
      await once(ws, 'open');
      ws.send(Buffer.alloc((1 << 20) + 1));
    }),
  ERR_STREAM_PROTOCOL: () =>
    firstStreamError({ audioSocketPort: 0 }, async (a) => {
      const c = net.connect(a.audioSocket!.port, '127.0.0.1', () => c.end(Buffer.from([0x42, 0x00, 0x00])));
      c.on('error', () => {});
    }),
  ERR_TRANSCRIPT_STORE: () => {
    // a call whose store file cannot be written (a directory has its name): its client still gets its lines
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'blocked.jsonl'));
    const words = new FakeModel([]).tokenizer.encode(' bonjour');
    const model = new FakeModel(words.map((token, i) => ({ token, frame: 5 + 2 * i }))).asLoadedModel();
    return firstStreamError({ wsPort: 0, outDir: dir, model, minChunkSize: 0.5 }, async (a) => {
      const ws = new WebSocket(`ws://127.0.0.1:${a.ws!.port}/audio_fork`);
      ws.on('error', () => {});
      await once(ws, 'open');
      ws.send(JSON.stringify({ uuid: 'blocked' }));
      ws.send(Buffer.alloc(32000));
      ws.send(Buffer.alloc(0));
    });
  },
  ERR_AUDIO_INPUT: () => caught(() => openAudio(path.join(tmp, 'no-such-file.wav'))),
  ERR_AUDIO_EMPTY: async () => caught(async () => pipeline((await openAudio(file('empty.raw', ''))).stream, new Writable({ write: (_c, _e, d) => d() }))),
  ERR_FFMPEG_MISSING: () => caught(() => openAudio(file('call.flac', Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(64)])), { ffmpeg: undefined })),
  ERR_FFMPEG: async () => {
    const failing = file('ffmpeg', '#!/bin/sh\necho "Invalid data found when processing input" >&2\nexit 1\n');
    fs.chmodSync(failing, 0o755);
    return caught(async () => pipeline((await openAudio(file('bad.flac', Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(64)])), { ffmpeg: failing })).stream, new Writable({ write: (_c, _e, d) => d() })));
  },
};

describe('every error code, provoked', () => {
  after(async () => {
    for (const c of closed.reverse()) await c();
  });
  for (const [code, provoke] of Object.entries(ROWS) as [ErrorCode, () => Promise<{ code: string; message: string }>][]) {
    it(code, async () => {
      const e = await provoke();
      assert.equal(e.code, code);
      assert.ok(e.message.length > 10, `a message that says something: ${e.message}`);
      if (e instanceof SimulstreamError) assert.equal(e.name.length > 0, true);
    });
  }

  it('every code in lib/errors.ts has a row here, and a default message', () => {
    assert.deepEqual(Object.keys(ROWS).sort(), Object.keys(ErrorCodes).sort());
    for (const m of Object.values(ErrorCodes)) assert.ok(m.length > 10);
  });
});
