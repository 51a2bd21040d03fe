import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { main } from '../lib/cli/main.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createLogger } from '../lib/server/logger.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { streamPcm } from '../lib/stream/run-transcriber.js';
import { formatLine } from '../lib/stream/line-format.js';
import { ncClient } from './helpers/clients.js';
import { FIXTURES, TOY, TOY_CLIPS, testCacheDir, toyPcm } from './helpers/fixtures.js';

const FILES = TOY_CLIPS.map((n) => `${n}.wav`);
const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;


describe('simulstream serve', () => {
  let lm: LoadedModel;
  let server: SimulstreamServer;
  let port: number;
  const log = new PassThrough();
  let logText = '';
  const expected = new Map<string, string>();

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    log.on('data', (d: Buffer) => (logText += d.toString('utf8')));
    server = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, logger: createLogger(log, 'DEBUG') });
    port = (await server.listen()).port;
    for (const f of FILES) {
      const segs = await streamPcm(toyPcm(f), { model: lm, ...OPTS });
      expected.set(f, segs.map((s) => formatLine(s.startMs, s.endMs, s.text)).join(''));
    }
  });
  after(async () => {
    await server.close();
    await lm.release();
  });

  it('answers an nc-style client with the lines `transcribe` prints, and logs like SimulStreaming', async () => {
    const out = await ncClient(port, toyPcm('fr-000.wav'));
    assert.equal(out, expected.get('fr-000.wav'));
    assert.ok(out.length > 0);
    assert.match(logText, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| whisper_server \| INFO \| Listening on 127\.0\.0\.1:\d+$/mu);
    assert.match(logText, /\| INFO \| Connected to client on \('127\.0\.0\.1', \d+\)$/mu);
    assert.match(logText, /\| INFO \| Connection to client closed$/mu);
  });

  it("gives a JSON client SimulStreaming's own updates when set to behave as it (peer reference)", async () => {
    // --compat simulstreaming and its file loop's chunking: SimulStreaming's updates on this clip
    const peer = fs
      .readFileSync(path.join(FIXTURES, 'peer', 'chunk0.5-ft25', 'fr-001.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; tokens: number[] });
    const compat = createServer({
      model: lm,
      host: '127.0.0.1',
      port: 0,
      ...OPTS,
      format: 'json',
      chunking: 'simulstreaming',
      repetitionGuard: false,
      maxTokensPerSecond: 0,
      suppressTimestamps: false,
    });
    try {
      const out = await ncClient((await compat.listen()).port, toyPcm('fr-001.wav'), { piece: [4001, 1, 333] });
      const got = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { text: string; tokens: number[] });
      assert.deepEqual(
        got.map((u) => [u.text, u.tokens]),
        peer.map((u) => [u.text, u.tokens]),
      );
    } finally {
      await compat.close();
    }
  });

  it('carries odd bytes split across packets', async () => {
    assert.equal(await ncClient(port, toyPcm('fr-001.wav'), { piece: 333 }), expected.get('fr-001.wav'));
  });

  it('serves 8 clients at once, each its own transcript, while other processes keep every core busy', async () => {
    // file clients send faster than real time: their output must not depend on the machine's load
    const hogs = os.cpus().map(() => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
    try {
      const files = [...FILES, ...FILES];
      const outs = await Promise.all(files.map((f) => ncClient(port, toyPcm(f), { piece: 4001 })));
      outs.forEach((o, i) => assert.equal(o, expected.get(files[i]!), files[i]));
      assert.equal(server.connections, 0);
    } finally {
      for (const h of hogs) h.kill('SIGKILL');
    }
  });

  it('rejects a WAV header with a logged error and keeps serving', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt '), toyPcm('fr-000.wav')]);
    const [bad, good] = await Promise.all([ncClient(port, wav), ncClient(port, toyPcm('en-000.wav'))]);
    assert.equal(bad, '');
    assert.equal(good, expected.get('en-000.wav'));
    assert.match(logText, /\| ERROR \| Client \('127\.0\.0\.1', \d+\): the audio starts with a WAV \(RIFF\/WAVE\) header; expected raw PCM/u);
  });

  it('survives a client that vanishes mid-stream, one that sends nothing, and one that sends garbage', async () => {
    const vanish = new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.write(toyPcm('fr-000.wav').subarray(0, 40000));
        setTimeout(() => {
          s.resetAndDestroy(); // gone without a goodbye (TCP reset)
          resolve();
        }, 50);
      });
    });
    const garbage = Buffer.alloc(48001);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2654435761) >>> 24;
    const [, nothing, junk, good] = await Promise.all([
      vanish,
      ncClient(port, Buffer.alloc(0)),
      ncClient(port, garbage),
      ncClient(port, toyPcm('en-001.wav')),
    ]);
    assert.equal(nothing, '');
    assert.match(junk, /^(\d+ \d+ .*\n)*$/u);
    assert.equal(good, expected.get('en-001.wav'));
    for (let i = 0; i < 100 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.connections, 0, 'every client state freed');
    assert.match(logText, /Client \('127\.0\.0\.1', \d+\) disconnected/u);
  });

  it('finishes open streams on shutdown: the client gets its last lines', async () => {
    const s2 = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS });
    const p2 = (await s2.listen()).port;
    const out = ncClient(p2, toyPcm('fr-000.wav'), { halfClose: false });
    await new Promise((r) => setTimeout(r, 300));
    await s2.close();
    assert.equal(await out, expected.get('fr-000.wav'));
  });

  it('reports a port in use with a hint, and JSON lines with --json', async () => {
    const s2 = createServer({ model: lm, host: '127.0.0.1', port, ...OPTS });
    await assert.rejects(s2.listen(), (e: Error & { code?: string }) => e.code === 'ERR_ADDRESS_IN_USE' && /--port/u.test(e.message));
    const s3 = createServer({ model: lm, host: '127.0.0.1', port: 0, ...OPTS, format: 'json' });
    const p3 = (await s3.listen()).port;
    const out = await ncClient(p3, toyPcm('fr-000.wav'));
    await s3.close();
    const objs = out.trim().split('\n').map((l) => JSON.parse(l) as { start: number; end: number; text: string; tokens: number[]; words: unknown[]; emission_time: number });
    const text = expected.get('fr-000.wav')!.trim().split('\n');
    assert.equal(objs.length, text.length);
    objs.forEach((o, i) => {
      assert.equal(formatLine(o.start * 1000, o.end * 1000, o.text), `${text[i]}\n`);
      assert.ok(o.tokens.length > 0 && o.words.length > 0 && o.emission_time >= 0);
    });
  });

  it('CLI: unknown flags and bad values give one line and exit code 2', async () => {
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    try {
      assert.equal(await main(['node', 'simulstream', 'serve', '--bogus']), 2);
      assert.equal(await main(['node', 'simulstream', 'serve', '--port', 'x']), 2);
      assert.equal(await main(['node', 'simulstream', 'serve', '--min-chunk-size', '31']), 2);
      assert.equal(await main(['node', 'simulstream', 'serve', '--cif_ckpt_path', 'c.pt']), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.match(err.join(''), /unknown option '--bogus'/u);
    assert.match(err.join(''), /CIF end-of-word models are not supported/u);
  });
});
