// A rolling restart loses no call's tail: `serve` on SIGTERM stops accepting, answers /readyz 503,
// and lets the streams already open go on until their clients end them (or --drain-timeout
// passes: then their final pass), then exits 0.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { freePort } from './helpers/clients.js';
import { nodeChild, type NodeChild } from './helpers/cli.js';
import { ROOT, TOY, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { metric, scrape } from './helpers/prometheus.js';
import { parseLines, peerLine, peerText, peerUpdates, sameLines } from './helpers/peer.js';
import { until } from './helpers/wait.js';

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

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
  });
  after(() => lm.release());

  async function serve(extra: string[]): Promise<NodeChild & { port: number; metricsPort: number }> {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const { child, log, exited } = nodeChild([
      path.join(ROOT, 'bin', 'simulstream.js'), 'serve', '--model_path', path.join(TOY, 'ggml-toy.bin'),
      // SimulStreaming's behaviour with the final pass: a stream's lines are SimulStreaming's lines
      '--models-dir', testCacheDir(), '--language', 'fr', '--compat', 'simulstreaming', '--chunking', 'simulstreaming', '--final-pass', '--threads', '1',
      '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort), '--log-level', 'INFO', ...extra,
    ]);
    await log.until(/Listening on 127\.0\.0\.1:\d+/u, 'the server to listen');
    return { child, port, metricsPort, log, exited };
  }

  it('a stream open at SIGTERM goes on to its end and gets its whole transcript; meanwhile /readyz is 503 and new clients are refused; exit 0', async () => {
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
      await until(async () => {
        const late = await client(s.port).catch(() => null);
        if (!late) return true;
        late.socket.end();
        return (await late.received) === '';
      }, 'a refused connection');
      // the open call goes on: the rest of its audio, then its end
      c.socket.end(pcm.subarray(half.length));
      const got = await c.received;
      assert.ok(sameLines(got, peerText('defaults', 'fr-001.wav')), `SimulStreaming's lines, tail included\n${got}`);
      assert.equal(await s.exited, 0, s.log.text());
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    }
  });

  it('a stream that does not end is finished after --drain-timeout: the lines of what it sent (final pass), then the close', async () => {
    // the lines of the chunks wholly inside what it sent are SimulStreaming's (the policy is causal);
    // the rest is the final pass over what it sent
    const seconds = half.length / 32000;
    const before = peerUpdates('defaults', 'fr-001.wav').filter((u) => u.emission_time <= Math.floor(seconds / 1.2) * 1.2 + 1e-9 && u.text !== '').map(peerLine).join('');
    const s = await serve(['--drain-timeout', '1']);
    try {
      const c = await client(s.port);
      c.socket.write(half);
      // every byte sent has been read by the server (what the final pass will cover), whatever the machine's speed
      await until(async () => metric(await scrape(s.metricsPort), 'simulstream_audio_received_seconds_total') * 32000 >= half.length, 'the audio to arrive');
      s.child.kill('SIGTERM');
      const got = await c.received;
      const lines = parseLines(got);
      assert.ok(lines.length > parseLines(before).length, `lines from the final pass too\n${got}`);
      assert.ok(sameLines(lines.slice(0, parseLines(before).length).map(([a, b, t]) => `${a} ${b} ${t}\n`).join(''), before), `SimulStreaming's first lines\n${got}`);
      assert.ok(lines.every(([, end]) => end <= Math.round(seconds * 1000)), 'nothing past what it sent');
      assert.equal(await s.exited, 0, s.log.text());
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    }
  });
});
