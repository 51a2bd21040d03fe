import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TranscriptStore, type StoredLine } from '../lib/bridge/transcript-store.js';
import { createHttpServer, type HttpServer } from '../lib/http/http-server.js';
import { createCallMonitor, type CallMonitor } from '../lib/monitor/call-monitor.js';
import { DayCalls, parseStoredLines } from '../lib/monitor/day-calls.js';
import { EventHub } from '../lib/monitor/event-hub.js';
import { PageAssets } from '../lib/monitor/page-assets.js';
import { loadModel } from '../lib/model/load-model.js';
import { peerAddress, serverStreamsObserver } from '../lib/monitor/server-streams.js';
import { createServer } from '../lib/server/server.js';
import { PassThrough } from 'node:stream';
import { buildCli } from '../lib/cli/main.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { until } from './helpers/wait.js';
import { freePort } from './helpers/clients.js';

const TOKEN = 's3cret-token';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, p: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
      // an event stream never ends: its headers and first bytes are enough
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.once('data', (d: Buffer) => {
          resolve({ status: res.statusCode!, headers: res.headers, body: d.toString() });
          req.destroy();
        });
        return;
      }
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

interface SseEvent {
  id: string;
  event: string;
  data: string;
}

/**
 * An event stream read until `count` events have arrived; the connection is then closed.
 * `onFirst` runs once the first event is in (the subscription is live).
 */
function readEvents(port: number, p: string, count: number, headers: Record<string, string> = {}, onFirst?: () => void): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = http.get({ host: '127.0.0.1', port, path: p, headers }, (res) => {
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const e: SseEvent = { id: '', event: 'message', data: '' };
          let isEvent = false;
          for (const line of block.split('\n')) {
            const m = /^(id|event|data): (.*)$/.exec(line);
            if (!m) continue;
            isEvent = true;
            e[m[1] as 'id' | 'event' | 'data'] = m[2]!;
          }
          if (isEvent) events.push(e);
          if (isEvent && events.length === 1) onFirst?.();
          if (events.length === count) {
            req.destroy();
            resolve(events);
            return;
          }
        }
      });
    });
    req.on('error', reject);
  });
}

function line(uuid: string, i: number, text: string, extra: Partial<StoredLine> = {}): StoredLine {
  return {
    call_uuid: uuid,
    leg: 'mixed',
    caller: '+33612345678',
    callee: '3001',
    start_ms: i * 1000,
    end_ms: i * 1000 + 900,
    text,
    received_at: new Date(Date.parse('2026-11-30T10:00:00Z') + i * 1000 + 1500).toISOString(),
    call_started_at: '2026-11-30T10:00:00.000Z',
    ...extra,
  };
}

describe('live page: routes, token, headers', () => {
  let server: HttpServer;
  let port: number;
  let monitor: CallMonitor;
  let dir: string;

  before(async () => {
    dir = tempDir();
    monitor = createCallMonitor({ outDir: dir });
    server = createHttpServer({ port: 0, token: TOKEN, handlers: [monitor.handler] });
    port = (await server.listen()).port;
    const store = new TranscriptStore(dir);
    monitor.callStarted({ uuid: 'u1', caller: '+33612345678', callee: '3001', legs: ['mixed'], startedAt: new Date() });
    const l = line('u1', 0, ' Bonjour');
    store.append(l);
    monitor.line(l);
  });
  after(async () => {
    monitor.close();
    await server.close();
  });

  const ROUTES = ['/', '/index.html', '/live.js', '/live.css', '/events', '/events?call=u1', '/api/calls', '/api/calls/u1', '/api/day?q=x', '/healthz', '/nope'];

  it('401 on every route without the token, or with a wrong one', async () => {
    for (const r of ROUTES) {
      const sep = r.includes('?') ? '&' : '?';
      for (const [how, p, h] of [
        ['none', r, {}],
        ['wrong bearer', r, { authorization: 'Bearer nope' }],
        ['wrong query', `${r}${sep}token=nope`, {}],
        ['basic', r, { authorization: `Basic ${TOKEN}` }],
      ] as const) {
        const res = await get(port, p, h);
        assert.equal(res.status, 401, `${how} ${r}`);
        assert.equal(res.headers['www-authenticate'], 'Bearer');
      }
    }
  });

  it('200 with the token as a Bearer header or as ?token=, with safe headers', async () => {
    for (const r of ROUTES.filter((x) => x !== '/nope' && x !== '/healthz')) {
      const sep = r.includes('?') ? '&' : '?';
      for (const [p, h] of [
        [r, { authorization: `Bearer ${TOKEN}` }],
        [`${r}${sep}token=${TOKEN}`, {}],
      ] as const) {
        const res = await get(port, p, h);
        assert.equal(res.status, 200, p);
        assert.equal(res.headers['x-content-type-options'], 'nosniff', p);
        assert.match(String(res.headers['content-security-policy']), /default-src 'none'; script-src 'self'/, p);
        assert.equal(res.headers['referrer-policy'], 'no-referrer');
      }
    }
    assert.equal((await get(port, '/nope', { authorization: `Bearer ${TOKEN}` })).status, 404);
    assert.equal((await get(port, '/api/calls/nobody', { authorization: `Bearer ${TOKEN}` })).status, 404);
    assert.equal((await get(port, '/api/calls/%E0%A4%A', { authorization: `Bearer ${TOKEN}` })).status, 404);
    assert.equal((await get(port, '/events?call=nobody', { authorization: `Bearer ${TOKEN}` })).status, 404);
  });

  it('the page opened with ?token= passes it to its script and style (escaped), not otherwise', async () => {
    const tok = await get(port, `/?token=${TOKEN}`);
    assert.match(tok.body, new RegExp(`<script src="live\\.js\\?token=${TOKEN}" defer></script>`));
    assert.match(tok.body, new RegExp(`<link rel="stylesheet" href="live\\.css\\?token=${TOKEN}">`));
    const bearer = await get(port, '/', { authorization: `Bearer ${TOKEN}` });
    assert.match(bearer.body, /<script src="live\.js" defer><\/script>/);
    assert.equal(tok.headers['content-type'], 'text/html; charset=utf-8');
    // a token with HTML in it cannot break out of the attribute
    const assets = new PageAssets();
    let html = '';
    const res = { writeHead: () => res, end: (b: string) => (html = b) } as unknown as http.ServerResponse;
    assets.send(res, 'index.html', '"><script>x</script>');
    assert.ok(!html.includes('<script>x'));
    assert.match(html, /live\.js\?token=%22%3E%3Cscript%3Ex%3C%2Fscript%3E"/);
  });

  it('the page never puts text in as HTML: no innerHTML and no inline script', () => {
    const assets = new PageAssets();
    const js = assets.text('live.js');
    for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) assert.ok(!js.includes(sink), sink);
    assert.ok(js.includes('textContent'));
    const html = assets.text('index.html');
    assert.deepEqual(html.match(/<script[^>]*>/g), ['<script src="live.js{{query}}" defer>']);
    assert.ok(!/ on[a-z]+=/i.test(html), 'no inline event handler');
  });

  it('api: live calls, a call\'s transcript with its words as JSON strings', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const calls = JSON.parse((await get(port, '/api/calls', auth)).body) as { calls: { uuid: string; lines: number; lagSeconds: number }[] };
    assert.deepEqual(calls.calls.map((c) => [c.uuid, c.lines, c.lagSeconds]), [['u1', 1, 0.6]]);
    const t = JSON.parse((await get(port, '/api/calls/u1', auth)).body) as { live: boolean; lines: { text: string; final: boolean }[] };
    assert.deepEqual([t.live, t.lines.map((l) => [l.text, l.final])], [true, [[' Bonjour', false]]]);
  });
});

describe('live page: event streams', () => {
  let server: HttpServer;
  let port: number;
  let monitor: CallMonitor;
  const dir = tempDir();

  before(async () => {
    monitor = createCallMonitor({ outDir: dir });
    server = createHttpServer({ port: 0, handlers: [monitor.handler] });
    port = (await server.listen()).port;
  });
  after(async () => {
    monitor.close();
    await server.close();
  });

  it('a call\'s stream: its lines so far, then a reconnect with Last-Event-ID resends exactly what was missed', async () => {
    monitor.callStarted({ uuid: 'c1', caller: '100', callee: '200', legs: ['mixed'], startedAt: new Date() });
    monitor.line(line('c1', 0, ' un'));
    monitor.line(line('c1', 1, ' deux'));
    const first = await readEvents(port, '/events?call=c1', 3);
    assert.deepEqual(first.map((e) => e.event), ['start', 'line', 'line']);
    assert.deepEqual(first.slice(1).map((e) => (JSON.parse(e.data) as { text: string; final: boolean }).text), [' un', ' deux']);
    // the browser is away: two lines and the end are published meanwhile
    monitor.line(line('c1', 2, ' trois'));
    monitor.line(line('c2-other', 0, ' autre'));
    monitor.line(line('c1', 3, ' quatre'));
    monitor.callEnded('c1');
    const again = await readEvents(port, '/events?call=c1', 3, { 'last-event-id': first.at(-1)!.id });
    assert.deepEqual(
      again.map((e) => [e.event, e.event === 'line' ? (JSON.parse(e.data) as { text: string }).text : '']),
      [['line', ' trois'], ['line', ' quatre'], ['end', '']],
    );
    assert.ok(Number(again[0]!.id) > Number(first.at(-1)!.id));
  });

  it('the list\'s stream: a snapshot of the live calls, then start / update / end', async () => {
    monitor.callEnded('c2-other');
    monitor.callStarted({ uuid: 'c3', caller: '300', callee: '400', legs: ['caller', 'callee'], startedAt: new Date() });
    // once the snapshot is in, the stream is live: what happens next comes as start / update / end
    const ev = await readEvents(port, '/events', 4, {}, () => {
      monitor.callStarted({ uuid: 'c4', caller: '500', callee: '600', legs: ['mixed'], startedAt: new Date() });
      monitor.line(line('c4', 0, ' hé', { caller: '500', callee: '600' }));
      monitor.callEnded('c4');
    });
    assert.deepEqual(ev.map((e) => e.event), ['snapshot', 'start', 'update', 'end']);
    const snap = JSON.parse(ev[0]!.data) as { calls: { uuid: string; legs: string[] }[] };
    assert.deepEqual(snap.calls.map((c) => [c.uuid, c.legs]), [['c3', ['caller', 'callee']]]);
    assert.equal((JSON.parse(ev[2]!.data) as { lines: number }).lines, 1);
  });
});

describe('EventHub bounds', () => {
  it('history per channel is capped; a reconnect from before the cap starts over with reset', async () => {
    const hub = new EventHub({ maxHistory: 3 });
    const server = createHttpServer({ port: 0, handlers: [(req, res, url) => (hub.subscribe(req, res, url.pathname.slice(1)), true)] });
    const { port } = await server.listen();
    try {
      hub.open('a');
      for (let i = 1; i <= 10; i++) hub.publish('a', 'n', i);
      assert.deepEqual(hub.history('a').map((e) => e.data), ['8', '9', '10']);
      const ev = await readEvents(port, '/a', 4, { 'last-event-id': '2' });
      assert.deepEqual(ev.map((e) => [e.event, e.data]), [['reset', '{}'], ['n', '8'], ['n', '9'], ['n', '10']]);
      // a Last-Event-ID from a previous process (beyond the newest id): a fresh start, no reset
      const fresh = await readEvents(port, '/a', 3, { 'last-event-id': '999' });
      assert.deepEqual(fresh.map((e) => e.data), ['8', '9', '10']);
    } finally {
      hub.close();
      await server.close();
    }
  });

  it('a client that reads gets a catch-up larger than maxBufferedBytes in full', async () => {
    const hub = new EventHub({ maxBufferedBytes: 1024 });
    const server = createHttpServer({ port: 0, handlers: [(req, res, url) => (hub.subscribe(req, res, url.pathname.slice(1)), true)] });
    const { port } = await server.listen();
    try {
      for (let i = 0; i < 100; i++) hub.publish('a', 'n', 'y'.repeat(1000));
      assert.equal((await readEvents(port, '/a', 100)).length, 100);
    } finally {
      hub.close();
      await server.close();
    }
  });

  it('clients are capped (503), ended channels are dropped oldest first', async () => {
    const hub = new EventHub({ maxClients: 2, maxEndedChannels: 2 });
    const server = createHttpServer({ port: 0, handlers: [(req, res, url) => (hub.subscribe(req, res, url.pathname.slice(1)), true)] });
    const { port } = await server.listen();
    const sockets: net.Socket[] = [];
    try {
      hub.open('a');
      for (let i = 0; i < 2; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
        sockets.push(s);
      }
      await until(() => hub.clientCount === 2, 'both clients connected');
      assert.equal((await get(port, '/a')).status, 503);
      for (const c of ['e1', 'e2', 'e3']) {
        hub.open(c);
        hub.end(c);
      }
      assert.deepEqual(['a', 'e1', 'e2', 'e3'].map((c) => hub.has(c)), [true, false, true, true]);
    } finally {
      sockets.forEach((s) => s.destroy());
      hub.close();
      await server.close();
    }
  });

  it('a client that never reads is dropped once it falls maxBufferedBytes behind', async () => {
    const hub = new EventHub({ maxBufferedBytes: 16 * 1024 });
    const server = createHttpServer({ port: 0, handlers: [(req, res, url) => (hub.subscribe(req, res, url.pathname.slice(1)), true)] });
    const { port } = await server.listen();
    const s = net.connect(port, '127.0.0.1');
    try {
      hub.open('a');
      s.pause(); // never reads
      s.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => hub.clientCount === 1, 'one client left');
      const big = 'x'.repeat(8 * 1024);
      // the kernel's socket buffers fill first (a few MB on loopback), then ours: bounded well beyond both
      let sent = 0;
      for (; sent < 6000 && hub.clientCount > 0; sent++) {
        hub.publish('a', 'n', big);
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(hub.clientCount, 0, `still connected after ${sent} events`);
      assert.ok(hub.history('a').length <= 2000);
    } finally {
      s.destroy();
      hub.close();
      await server.close();
    }
  });
});

describe('the day\'s finished calls', () => {
  const dir = tempDir();
  const now = new Date();
  const iso = (h: number, m: number): string => new Date(now.getFullYear(), now.getMonth(), now.getDate(), h, m).toISOString();
  before(() => {
    const store = new TranscriptStore(dir);
    const mk = (uuid: string, caller: string, texts: string[], at: string): void =>
      texts.forEach((t, i) => store.append({ ...line(uuid, i, t), caller, received_at: at, call_started_at: at }));
    mk('d1', '+33 6 12 34 56 78', [' Composez votre numéro', ' suivi du dièse'], iso(0, 5));
    mk('d2', '0499887766', [' Le montant est de huit cents euros'], iso(0, 10));
    mk('live-1', '0611111111', [' en cours'], iso(0, 15));
    mk('old', '0612345678', [' hier'], iso(0, 1));
    const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1, 12) ;
    fs.utimesSync(path.join(dir, 'old.jsonl'), yesterday, yesterday);
    fs.appendFileSync(path.join(dir, 'd2.jsonl'), '{"call_uuid":"d2","te'); // torn by a crash
  });

  it('lists today\'s calls newest first, not the live ones, not yesterday\'s', async () => {
    const day = new DayCalls({ dir, clock: () => now });
    const all = await day.list('', new Set(['live-1']));
    assert.deepEqual(all.calls.map((c) => c.uuid), ['d2', 'd1']);
    assert.equal(all.matched, 2);
    const d1 = all.calls[1]!;
    assert.deepEqual([d1.caller, d1.callee, d1.legs, d1.lines, d1.preview], ['+33 6 12 34 56 78', '3001', ['mixed'], 2, 'Composez votre numéro suivi du dièse']);
  });

  it('searches by number (digits anywhere in it) and by words (case and accents ignored)', async () => {
    const day = new DayCalls({ dir, clock: () => now });
    const q = async (s: string): Promise<string[]> => (await day.list(s)).calls.map((c) => c.uuid).sort();
    assert.deepEqual(await q('612345'), ['d1']);
    assert.deepEqual(await q('+33 6 12'), ['d1']);
    assert.deepEqual(await q('3001'), ['d1', 'd2', 'live-1']);
    assert.deepEqual(await q('NUMERO composez'), ['d1']);
    assert.deepEqual(await q('huit euros'), ['d2']);
    assert.deepEqual(await q('huit numéro'), []);
    assert.deepEqual(await q('hier'), []);
    assert.equal((await new DayCalls({ dir, clock: () => now, maxResults: 1 }).list('3001')).calls.length, 1);
    assert.deepEqual(await new DayCalls({ dir: path.join(dir, 'missing') }).list(), { date: (await day.list()).date, matched: 0, calls: [] });
  });

  it('skips a line torn by a crash', () => {
    assert.deepEqual(parseStoredLines(fs.readFileSync(path.join(dir, 'd2.jsonl'), 'utf8')).map((l) => l.text), [' Le montant est de huit cents euros']);
  });
});

describe('serve --http-port: the server\'s streams on the page', () => {
  it('peer addresses print as host:port', () => {
    assert.equal(peerAddress("('127.0.0.1', 54321)"), '127.0.0.1:54321');
    assert.equal(peerAddress("('::1', 4)"), '[::1]:4');
  });

  it('each client stream is listed live, its lines carry the lag and final flag, then it is kept in memory and searchable', async () => {
    const lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    const monitor = createCallMonitor();
    const asr = createServer({ model: lm, host: '127.0.0.1', port: 0, language: 'fr', minChunkSize: 0.5, observers: [serverStreamsObserver(monitor)] });
    const web = createHttpServer({ port: 0, handlers: [monitor.handler] });
    try {
      const { port } = await asr.listen();
      const webPort = (await web.listen()).port;
      const sock = net.connect(port, '127.0.0.1');
      let sent = '';
      sock.on('data', (d: Buffer) => (sent += d.toString()));
      await new Promise((r) => sock.once('connect', r));
      type Calls = { calls: { uuid: string; caller: string; callee: string }[] };
      const liveCalls = async (): Promise<Calls> => JSON.parse((await get(webPort, '/api/calls')).body) as Calls;
      await until(async () => (await liveCalls()).calls.length === 1, 'the call listed');
      const during = await liveCalls();
      assert.deepEqual(during.calls.map((c) => [c.uuid, c.caller.startsWith('127.0.0.1:'), c.callee]), [['stream-1', true, '']]);
      sock.end(toyPcm('fr-000.wav'));
      await new Promise((r) => sock.once('close', r));
      await until(async () => (await liveCalls()).calls.length === 0, 'the call gone');
      const day = JSON.parse((await get(webPort, '/api/day')).body) as { calls: { uuid: string; lines: number; preview: string }[] };
      const wire = sent.split('\n').filter(Boolean).map((l) => / \d+ (.*)$/.exec(l)![1]!.trim());
      assert.deepEqual(day.calls.map((c) => [c.uuid, c.lines, c.preview]), [['stream-1', wire.length, wire.join(' ')]]);
      const t = JSON.parse((await get(webPort, '/api/calls/stream-1')).body) as { live: boolean; lines: { text: string; final: boolean }[] };
      assert.deepEqual([t.live, t.lines.map((l) => l.text.trim()), t.lines.every((l) => l.final)], [false, wire, true]);
      // the last line came from the final pass
      const events = await readEvents(webPort, '/events?call=stream-1', 2 + wire.length);
      const lines = events.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data) as { final: boolean });
      assert.equal(lines.at(-1)!.final, true);
      assert.equal(lines.filter((l) => l.final).length, 1);
      assert.deepEqual((await monitorDay(webPort, wire[0]!.split(' ')[0]!)).map((c) => c.uuid), ['stream-1']);
      assert.deepEqual(await monitorDay(webPort, 'mot-absent'), []);
    } finally {
      monitor.close();
      await web.close();
      await asr.close();
      await lm.release();
    }
  });
});

describe('bridge --http-port (CLI)', () => {
  it('serves the page while the bridge runs, behind --http-token, and stops with it', async () => {
    const lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    const asr = createServer({ model: lm, host: '127.0.0.1', port: 0, language: 'fr', minChunkSize: 0.5 });
    const fsw = new FakeFreeswitch();
    try {
      const asrPort = (await asr.listen()).port;
      await fsw.start();
      const b = Buffer.from(toyPcm('fr-001.wav'));
      fsw.originateAudio = new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      const port = await freePort();
      const out = tempDir();
      const args = ['bridge', '--test', '--test-destination', 'loopback/9196', '--esl-port', String(fsw.port), '--server', `127.0.0.1:${asrPort}`];
      const run = buildCli({ stdout: new PassThrough(), stderr: new PassThrough() }).parseAsync(['node', 'simulstream', ...args, '--out-dir', out, '--record-dir', tempDir(), '--http-port', String(port), '--http-token', TOKEN]);
      const seen = new Set<string>();
      let unauthorized = 0;
      // while the call runs: its row on /api/calls (with the token), 401 without
      while (seen.size === 0) {
        const r = await get(port, '/api/calls', { authorization: `Bearer ${TOKEN}` }).catch(() => null);
        if (r?.status === 200) for (const c of (JSON.parse(r.body) as { calls: { caller: string }[] }).calls) seen.add(c.caller);
        if (r && (await get(port, '/api/calls')).status === 401) unauthorized++;
        await new Promise((res) => setTimeout(res, 50));
      }
      await run;
      assert.deepEqual([...seen], ['simulstream-test']);
      assert.ok(unauthorized > 0);
      await assert.rejects(get(port, '/'), /ECONNREFUSED/);
    } finally {
      await fsw.stop();
      await asr.close();
      await lm.release();
    }
  });
});

async function monitorDay(port: number, q: string): Promise<{ uuid: string }[]> {
  return (JSON.parse((await get(port, `/api/day?q=${encodeURIComponent(q)}`)).body) as { calls: { uuid: string }[] }).calls;
}
