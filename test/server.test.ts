// The TCP server against SimulStreaming's own output: set to behave as SimulStreaming (its file
// loop's chunking, none of our differences, the final pass its file simulation runs), every
// client's lines are SimulStreaming's lines for the same clip (test/fixtures/peer), whatever the
// write sizes, the number of clients or the machine's load.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { main } from '../lib/cli/main.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createLogger } from '../lib/server/logger.js';
import type { ServerObserver } from '../lib/server/observer.js';
import { createServer, type ServerOptions, type SimulstreamServer } from '../lib/server/server.js';
import { ncClient, peerOf } from './helpers/clients.js';
import { TOY, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { assertPeerJson, assertPeerLines, parseLines, simulStreamingOptions } from './helpers/peer.js';
import { until } from './helpers/wait.js';

/** A server whose every client's output is SimulStreaming's (1.2 s chunks, frame threshold 25). */
function peerServer(lm: LoadedModel, language: string, o: Partial<ServerOptions> = {}): SimulstreamServer {
  return createServer({ model: lm, host: '127.0.0.1', port: 0, ...simulStreamingOptions('defaults', language), catchUp: false, ...o });
}

describe('simulstream serve', () => {
  let lm: LoadedModel;
  let server: SimulstreamServer;
  let en: SimulstreamServer;
  let port: number;
  let enPort: number;
  const log = new PassThrough();
  let logText = '';
  const accepted: string[] = [];
  const closed = new Map<string, unknown>();
  const received = new Map<string, number>();
  const observer: ServerObserver = {
    connectionAccepted: (peer) => void accepted.push(peer),
    audioReceived: (peer, bytes) => void received.set(peer, (received.get(peer) ?? 0) + bytes),
    streamClosed: (peer, error) => void closed.set(peer, error ?? null),
  };

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    log.on('data', (d: Buffer) => (logText += d.toString('utf8')));
    server = peerServer(lm, 'fr', { logger: createLogger(log, 'DEBUG'), observers: [observer] });
    port = (await server.listen()).port;
    en = peerServer(lm, 'en');
    enPort = (await en.listen()).port;
  });
  after(async () => {
    await server.close();
    await en.close();
    await lm.release();
  });

  it("answers an nc-style client with SimulStreaming's lines, and logs like SimulStreaming", async () => {
    assertPeerLines(await ncClient(port, toyPcm('fr-000.wav')), 'fr-000.wav');
    assert.match(logText, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| whisper_server \| INFO \| Listening on 127\.0\.0\.1:\d+$/mu);
    assert.match(logText, /\| INFO \| Connected to client on \('127\.0\.0\.1', \d+\)$/mu);
    assert.match(logText, /\| INFO \| Connection to client closed$/mu);
  });

  it("gives a JSON client SimulStreaming's own updates, tokens and times (1-byte and odd writes)", async () => {
    const compat = createServer({ model: lm, host: '127.0.0.1', port: 0, ...simulStreamingOptions('chunk0.5-ft25', 'fr'), catchUp: false, format: 'json' });
    try {
      const out = await ncClient((await compat.listen()).port, toyPcm('fr-001.wav'), { piece: [4001, 1, 333] });
      assertPeerJson(out, 'chunk0.5-ft25', 'fr-001.wav');
    } finally {
      await compat.close();
    }
  });

  it('carries odd bytes split across packets', async () => {
    assertPeerLines(await ncClient(port, toyPcm('fr-001.wav'), { piece: 333 }), 'fr-001.wav');
  });

  it('serves 8 clients at once, each its own transcript, while other processes keep every core busy', async () => {
    // file clients are slowed by TCP, never merged: their output does not depend on the machine's load
    const hogs = os.cpus().map(() => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
    try {
      const clips = ['fr-000.wav', 'fr-001.wav', 'en-000.wav', 'en-001.wav', 'fr-000.wav', 'fr-001.wav', 'en-000.wav', 'en-001.wav'];
      const outs = await Promise.all(clips.map((f) => ncClient(f.startsWith('fr') ? port : enPort, toyPcm(f), { piece: 4001 })));
      outs.forEach((o, i) => assertPeerLines(o, clips[i]!));
      await until(() => server.connections === 0 && en.connections === 0, 'every stream closed');
    } finally {
      for (const h of hogs) h.kill('SIGKILL');
    }
  });

  it('rejects a WAV header with a logged error and keeps serving', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt '), toyPcm('fr-000.wav')]);
    const [bad, good] = await Promise.all([ncClient(port, wav), ncClient(port, toyPcm('fr-001.wav'))]);
    assert.equal(bad, '');
    assertPeerLines(good, 'fr-001.wav');
    assert.match(logText, /\| ERROR \| Client \('127\.0\.0\.1', \d+\): the audio starts with a WAV \(RIFF\/WAVE\) header; expected raw PCM/u);
  });

  it('survives a client that vanishes mid-stream, one that sends nothing, and one that sends garbage', async () => {
    let vanished = '';
    const vanish = new Promise<void>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        vanished = peerOf(s);
        s.write(toyPcm('fr-000.wav').subarray(0, 40000));
        // gone without a goodbye (a TCP reset) once the server has read part of its audio
        void until(() => (received.get(vanished) ?? 0) > 0, 'the server reading it').then(() => {
          s.resetAndDestroy();
          resolve();
        }, reject);
      });
    });
    const garbage = Buffer.alloc(48001);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2654435761) >>> 24;
    let silent = '';
    let junkPeer = '';
    const [, nothing, junk, good] = await Promise.all([
      vanish,
      ncClient(port, Buffer.alloc(0), { onConnect: (s) => (silent = peerOf(s)) }),
      ncClient(port, garbage, { onConnect: (s) => (junkPeer = peerOf(s)) }),
      ncClient(port, toyPcm('fr-001.wav')),
    ]);
    assertPeerLines(good, 'fr-001.wav');
    await until(() => closed.has(vanished) && closed.has(silent) && closed.has(junkPeer), 'the three streams closed');
    // the vanished client's stream was freed as gone; the silent and garbage ones ended cleanly
    assert.equal((closed.get(vanished) as { code: string }).code, 'ERR_CLIENT_GONE');
    assert.equal(closed.get(silent), null);
    assert.equal(closed.get(junkPeer), null);
    assert.equal(nothing, '');
    parseLines(junk); // garbage is decoded as audio: whatever it gives is well-formed lines
    assert.ok(logText.includes(`Client ${vanished} disconnected`), logText);
    await until(() => server.connections === 0, 'every client state freed');
  });

  it('finishes open streams on shutdown: a client that never half-closed gets its last lines', async () => {
    const seen = new Map<string, number>();
    const s2 = peerServer(lm, 'fr', { observers: [{ audioReceived: (p, n) => void seen.set(p, (seen.get(p) ?? 0) + n) }] });
    const p2 = (await s2.listen()).port;
    const pcm = toyPcm('fr-000.wav');
    let me = '';
    const out = ncClient(p2, pcm, { halfClose: false, onConnect: (s) => (me = peerOf(s)) });
    await until(() => seen.get(me) === pcm.length, 'the server to have read every byte');
    await s2.close();
    assertPeerLines(await out, 'fr-000.wav');
  });

  it('reports a port in use with a hint', async () => {
    const s2 = createServer({ model: lm, host: '127.0.0.1', port, language: 'fr' });
    await assert.rejects(s2.listen(), (e: Error & { code?: string }) => e.code === 'ERR_ADDRESS_IN_USE' && /--port/u.test(e.message));
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

  it('drains on close({ drainTimeout }): new clients are refused, an open stream runs to its own end', async () => {
    const s2 = peerServer(lm, 'fr');
    const p2 = (await s2.listen()).port;
    const pcm = toyPcm('fr-001.wav');
    // the client is connected and streaming; the server starts draining; the client then ends itself
    const sock = net.connect({ port: p2, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    sock.on('data', (b: Buffer) => chunks.push(b));
    const ended = new Promise<void>((r) => sock.on('end', () => r()));
    await new Promise<void>((r) => sock.on('connect', () => r()));
    sock.write(pcm.subarray(0, pcm.length >> 1));
    await until(() => s2.connections === 1, 'the stream to be open');
    const closing = s2.close({ drainTimeout: 600 });
    assert.equal(s2.closing, true);
    // refused while draining: a new connection gets closed at once
    assert.equal(await ncClient(p2, pcm).catch(() => ''), '');
    sock.end(pcm.subarray(pcm.length >> 1));
    await ended;
    sock.destroy();
    await closing;
    assertPeerLines(Buffer.concat(chunks).toString('utf8'), 'fr-001.wav');
  });
});
