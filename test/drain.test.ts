// A rolling restart loses no call's tail: `serve` on SIGTERM stops accepting, answers /readyz 503,
// and lets the streams already open go on until their clients end them (or --drain-timeout
// passes: then their final pass), then exits 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { watchOutput } from './helpers/cli.js';
import { ROOT, TOY, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { metric, scrape } from './helpers/prometheus.js';
import { linesFrom } from './helpers/resumed-call.js';
import { freePort, waitFor } from './helpers/tcp-client.js';

const OPTS = { language: 'fr', minChunkSize: 0.5 } as const;

/** A client that sends when told and collects what the server sends back until it closes. */
function client(port: number): Promise<{ socket: net.Socket; received: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const received = new Promise<string>((res) => {
      socket.on('data', (b: Buffer) => chunks.push(b));
      // the server's end of the stream: everything it had to say
      socket.on('end', () => {
        res(Buffer.concat(chunks).toString('utf8'));
        socket.end();
      });
      socket.on('close', () => res(Buffer.concat(chunks).toString('utf8')));
    });
    socket.once('connect', () => resolve({ socket, received }));
    socket.once('error', reject);
  });
}

describe('serve drains on SIGTERM', () => {
  let lm: LoadedModel;
  const pcm = toyPcm('fr-001.wav');
  const half = pcm.subarray(0, (pcm.length >> 2) * 2);
  const samples = (b: Buffer): Int16Array => new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(() => lm.release());

  async function serve(extra: string[]): Promise<{ child: ChildProcess; port: number; metricsPort: number; log: ReturnType<typeof watchOutput>; exited: Promise<number | null> }> {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [
      path.join(ROOT, 'bin', 'simulstream.js'), 'serve', '--model_path', path.join(TOY, 'ggml-toy.bin'),
      '--models-dir', testCacheDir(), '--language', OPTS.language, '--min-chunk-size', String(OPTS.minChunkSize), '--no-catch-up', '--threads', '1',
      '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort), '--log-level', 'INFO', ...extra,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    const log = watchOutput(child.stderr!);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await log.until(/Listening on 127\.0\.0\.1:\d+/u, 'the server to listen');
    return { child, port, metricsPort, log, exited };
  }

  it('a stream open at SIGTERM goes on to its end and gets its whole transcript; meanwhile /readyz is 503 and new clients are refused; exit 0', async () => {
    const expected = (await linesFrom(samples(pcm), 0, { ...OPTS, model: lm })).map((l) => `${l}\n`).join('');
    const s = await serve([]);
    try {
      const c = await client(s.port);
      c.socket.write(half);
      await s.log.until(/Connected to client on/u, 'the connection');
      s.child.kill('SIGTERM');
      await s.log.until(/SIGTERM: no new streams; 1 open stream\(s\) may go on for up to 30 s/u, 'the drain');
      const ready = await fetch(`http://127.0.0.1:${s.metricsPort}/readyz`);
      assert.equal(ready.status, 503);
      assert.match(await ready.text(), /shutting down/u);
      // a new caller is turned away (HAProxy would have sent it to another server)
      await waitFor(async () => {
        const late = await client(s.port).catch(() => null);
        if (!late) return true;
        late.socket.end();
        return (await late.received) === '';
      }, 10_000, 'a refused connection');
      // the open call goes on: the rest of its audio, then its end
      c.socket.end(pcm.subarray(half.length));
      assert.equal(await c.received, expected, 'the whole transcript, tail included');
      assert.equal(await s.exited, 0, s.log.text());
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    }
  });

  it('a stream that does not end is finished after --drain-timeout: the lines of what it sent (final pass), then the close', async () => {
    const expected = (await linesFrom(samples(half), 0, { ...OPTS, model: lm })).map((l) => `${l}\n`).join('');
    const s = await serve(['--drain-timeout', '1']);
    try {
      const c = await client(s.port);
      c.socket.write(half);
      // every byte sent has been read by the server (what the final pass will cover), whatever the machine's speed
      await waitFor(async () => metric(await scrape(s.metricsPort), 'simulstream_audio_received_seconds_total') * 32000 >= half.length, 30_000, 'the audio to arrive');
      s.child.kill('SIGTERM');
      assert.equal(await c.received, expected);
      assert.equal(await s.exited, 0, s.log.text());
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    }
  });
});
