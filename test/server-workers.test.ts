// serve's worker threads (ServerOptions.workers): the streams run in other threads, each with its
// own ONNX Runtime sessions; what a client gets must not change. Judged against SimulStreaming's
// own output (test/fixtures/peer), as the in-thread server is in server.test.ts, and a thread that
// dies must fail its own streams alone.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import path from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createLogger } from '../lib/server/logger.js';
import { createServer, workerPool, type ServerOptions } from '../lib/server/server.js';
import { LineEncoder } from '../lib/stream/line-encoder.js';
import { ncClient } from './helpers/clients.js';
import { FakeModel } from './helpers/fake-model.js';
import { TOY, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { assertPeerJson, assertPeerLines, simulStreamingOptions } from './helpers/peer.js';
import { until } from './helpers/wait.js';

const CRASHING_WORKER = new URL('./helpers/crashing-worker.js', import.meta.url);

/** Everything a pool stream gives for `pcm`, as text lines; rejects with its error. */
async function streamLines(tr: Duplex, pcm: Buffer): Promise<string> {
  const lines = tr.pipe(new LineEncoder());
  let out = '';
  lines.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const ended = once(lines, 'end');
  const failed = once(tr, 'error').then(([e]) => Promise.reject(e as Error));
  for (let i = 0; i < pcm.length; i += 32000) tr.write(pcm.subarray(i, i + 32000));
  tr.end();
  await Promise.race([ended, failed]);
  return out;
}

describe('serve with worker threads', () => {
  let lm: LoadedModel;
  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(() => lm.release());

  it("6 clients on 2 threads, in 1-byte, odd and large writes: each gets SimulStreaming's lines", async () => {
    const srv = createServer({ model: lm, host: '127.0.0.1', port: 0, ...simulStreamingOptions('defaults', 'fr'), catchUp: false, workers: 2 });
    const { port } = await srv.listen();
    try {
      const clips = ['fr-000.wav', 'fr-001.wav', 'fr-000.wav', 'fr-001.wav', 'fr-000.wav', 'fr-001.wav'];
      const pieces = [1, 333, 4001, [7, 1, 333], 64000, 2];
      const outs = await Promise.all(clips.map((f, i) => ncClient(port, toyPcm(f), { piece: pieces[i]! })));
      outs.forEach((o, i) => assertPeerLines(o, clips[i]!));
    } finally {
      await srv.close();
    }
  });

  it("a JSON client gets SimulStreaming's own tokens and times from a worker thread; a WAV header fails that stream alone, with its code", async () => {
    const closed = new Map<string, string | null>();
    const srv = createServer({
      model: lm,
      host: '127.0.0.1',
      port: 0,
      ...simulStreamingOptions('chunk0.5-ft25', 'fr'),
      catchUp: false,
      format: 'json',
      workers: 1,
      observers: [{ streamClosed: (peer, e) => void closed.set(peer, e?.code ?? null) }],
    });
    const { port } = await srv.listen();
    try {
      const wav = Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), Buffer.alloc(64)]);
      const [good, bad] = await Promise.all([ncClient(port, toyPcm('fr-001.wav'), { piece: [4001, 1, 333] }), ncClient(port, wav)]);
      assertPeerJson(good, 'chunk0.5-ft25', 'fr-001.wav');
      assert.equal((JSON.parse(bad.trim()) as { error: { code: string } }).error.code, 'ERR_WAV_HEADER');
      assert.deepEqual([...closed.values()].sort(), ['ERR_WAV_HEADER', null].sort());
    } finally {
      await srv.close();
    }
  });

  it('a thread that dies fails its own stream (ERR_WORKER) and is started again; the other thread\'s stream is untouched', async () => {
    const log = new PassThrough();
    let logText = '';
    log.on('data', (d: Buffer) => (logText += d.toString('utf8')));
    const options: ServerOptions = { model: lm, ...simulStreamingOptions('defaults', 'fr'), catchUp: false };
    const pool = workerPool(options, 2, createLogger(log, 'DEBUG'), CRASHING_WORKER);
    const updates: number[] = [];
    const hooks = { realTime: () => false, onUpdate: () => void updates.push(1) };
    try {
      await pool.ready();
      const doomed = pool.open(hooks);
      const other = pool.open(hooks);
      assert.deepEqual(pool.load, [1, 1], 'one stream per thread');
      const [crashed, kept] = await Promise.allSettled([
        streamLines(doomed, Buffer.concat([Buffer.from('CRASH', 'latin1'), Buffer.alloc(1), toyPcm('fr-000.wav')])),
        streamLines(other, toyPcm('fr-000.wav')),
      ]);
      assert.equal(crashed.status, 'rejected');
      assert.equal((crashed as PromiseRejectedResult).reason.code, 'ERR_WORKER');
      assert.match(String((crashed as PromiseRejectedResult).reason.message), /the test crashed this thread/u);
      assert.equal(kept.status, 'fulfilled');
      assertPeerLines((kept as PromiseFulfilledResult<string>).value, 'fr-000.wav');
      assert.match(logText, /A worker thread stopped \(the test crashed this thread\): its streams failed; starting another/u);
      assert.ok(updates.length > 0, 'the updates cross the thread');
      // the next stream runs on the thread started in place of the dead one (the first slot, now the least busy)
      await until(() => pool.liveThreads === 2, 'the dead thread replaced');
      assertPeerLines(await streamLines(pool.open(hooks), toyPcm('fr-001.wav')), 'fr-001.wav');
    } finally {
      await pool.close();
    }
  });

  it('refuses what a thread cannot take, before listening: a model not from loadModel, modelFor, a clock, a bad count', () => {
    const bad: Partial<ServerOptions>[] = [
      { model: new FakeModel([]).asLoadedModel(), workers: 1 },
      { model: lm, workers: 1, modelFor: () => lm },
      { model: lm, workers: 1, clock: () => 0 },
      { model: lm, workers: -1 },
      { model: lm, workers: 1.5 },
    ];
    for (const o of bad) {
      assert.throws(
        () => createServer({ model: lm, host: '127.0.0.1', port: 0, ...o }),
        (e: { code?: string; message?: string }) => e.code === 'ERR_INVALID_OPTION' && /--workers/u.test(e.message ?? ''),
      );
    }
  });
});
