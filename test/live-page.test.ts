// The live page in a real browser: Debian's headless Chromium, driven by playwright-core, against
// the bridge running two overlapping calls on the test FreeSWITCH. Slow (SIMULSTREAM_SLOW=1); skipped
// when /usr/bin/chromium is absent (`apt-get install chromium`; .ci/run installs it).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createBridge, type Bridge } from '../lib/bridge/bridge.js';
import { tcpRecognizer, type Recognizer } from '../lib/bridge/recognizer.js';
import { readTranscript } from '../lib/bridge/transcript-store.js';
import { createHttpServer, type HttpServer } from '../lib/http/http-server.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createCallMonitor, type CallMonitor } from '../lib/monitor/call-monitor.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { FakeFreeswitch } from './helpers/fake-freeswitch.js';
import { SKIP_SLOW, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { until } from './helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = SKIP_SLOW || (fs.existsSync(CHROMIUM) ? false : `needs ${CHROMIUM} (apt-get install chromium)`);
/** Where the screenshot goes (the README's docs/live-page.png is a copy of one). */
export const SCREENSHOT = path.join(os.tmpdir(), 'simulstream-live-page.png');

const TOKEN = 'page-test-token';
const HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> hello supervisor';
const LONG = 'long-call';
const SHORT = 'short-call';

/** The first call's recognizer also says HOSTILE, as if the caller had. */
function saying(inner: Recognizer, text: string): Recognizer {
  let first = true;
  return {
    name: inner.name,
    async open() {
      const real = await inner.open();
      if (!first) return real;
      first = false;
      const out = new PassThrough();
      out.write(`0 100 ${text}\n`);
      real.pipe(out);
      return Duplex.from({ writable: real, readable: out });
    },
  };
}

describe('the live page in headless Chromium', { skip: SKIP }, () => {
  let lm: LoadedModel;
  let asr: SimulstreamServer;
  let fsw: FakeFreeswitch;
  let bridge: Bridge;
  let monitor: CallMonitor;
  let http: HttpServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  let httpPort: number;
  const out = tempDir();

  before(async () => {
    lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    asr = createServer({ model: lm, host: '127.0.0.1', port: 0, language: 'fr', minChunkSize: 0.5 });
    const asrPort = (await asr.listen()).port;
    fsw = new FakeFreeswitch();
    await fsw.start();
    monitor = createCallMonitor({ outDir: out });
    http = createHttpServer({ port: 0, token: TOKEN, handlers: [monitor.handler] });
    httpPort = (await http.listen()).port;
    base = `http://127.0.0.1:${httpPort}/`;
    bridge = createBridge({
      observers: [monitor.bridgeObserver],
      port: fsw.port,
      recognizer: saying(tcpRecognizer(`127.0.0.1:${asrPort}`), HOSTILE),
      outDir: out,
      recordDir: tempDir(),
      backoffMs: [50, 200],
    });
    await bridge.connect();
    await bridge.auto();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'], timeout: 30_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    // no deadline of its own: the test's timeout bounds every wait, so a busy machine is only slower
    page.setDefaultTimeout(0);
  });

  after(async () => {
    await browser?.close();
    await bridge?.close();
    monitor?.close();
    await http?.close();
    await fsw?.stop();
    await asr?.close();
    await lm?.release();
  });

  const pcm = (...clips: string[]): Int16Array => {
    const b = Buffer.concat(clips.map((c) => toyPcm(`${c}.wav`)));
    return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  };
  const row = (table: 'live' | 'day', uuid: string): string => `#${table} tbody tr[data-uuid="${uuid}"]`;
  const lineCount = (): Promise<number> => page.locator('#lines li').count();

  it('shows both calls, a call\'s text growing while it plays (across a reconnection), its words as text, the finished call in the day\'s list', async () => {
    await page.goto(`${base}?token=${TOKEN}`);
    await page.waitForSelector('#status.ok');
    // two overlapping calls: ~18 s and ~4 s, the short one answered while the long one plays
    fsw.addCall({ uuid: LONG, caller: '+33612345678', callee: '3001', audio: pcm('en-001', 'fr-000', 'en-001', 'fr-001'), rate: 16000 });
    fsw.addCall({ uuid: SHORT, caller: '0499887766', callee: '3002', audio: pcm('fr-001', 'en-000'), rate: 16000 });
    fsw.answer(LONG);
    await page.waitForSelector(row('live', LONG));
    fsw.answer(SHORT);
    await page.waitForSelector(row('live', SHORT));
    assert.deepEqual(await page.locator(`${row('live', SHORT)} td`).allTextContents().then((t) => t.slice(0, 4)), [SHORT, '0499887766', '3002', 'mixed']);

    // the long call's transcript grows line by line while it is still playing
    await page.click(row('live', LONG));
    await page.locator('#lines li').first().waitFor();
    const first = await lineCount();
    // the connection drops for a moment (every stream cut, the port refused); the browser
    // reconnects by itself and gets what it missed (its Last-Event-ID), nothing twice
    await http.close();
    await page.waitForSelector('#status.down');
    // the browser has tried to reconnect to the refused port at least once
    await page.waitForEvent('requestfailed', (r) => r.url().includes('/events'));
    http = createHttpServer({ port: httpPort, token: TOKEN, handlers: [monitor.handler] });
    await http.listen();
    await page.waitForSelector('#status.ok');
    await page.locator('#lines li').nth(first).waitFor();
    assert.ok(bridge.calls.has(LONG), 'the call is still playing');
    assert.equal(await page.locator(row('live', LONG)).count(), 1);
    assert.ok((await page.locator('#lines li.partial').count()) > 0, 'lines of a live call are not final yet');

    // the caller's words are text: no script ran, no element was made from them
    const shown = await page.locator('#lines li .text').first().textContent();
    assert.equal(shown, HOSTILE);
    assert.equal(await page.evaluate(() => typeof (globalThis as Record<string, unknown>).__xss), 'undefined');
    assert.equal(await page.locator('#lines script, #lines img').count(), 0);

    // the short call ends: it leaves the live list for the day's list
    await page.waitForSelector(row('day', SHORT));
    assert.equal(await page.locator(row('live', SHORT)).count(), 0);
    assert.ok(bridge.calls.has(LONG), 'the long call still plays');
    await page.screenshot({ path: SCREENSHOT });

    // the long call ends too: every line final, the call in the day's list
    await page.waitForSelector(row('day', LONG));
    assert.equal(await page.locator('#lines li.partial').count(), 0);
    // every stored line shown once, the reconnection notwithstanding
    assert.deepEqual(
      await page.locator('#lines li .text').allTextContents(),
      readTranscript(path.join(out, `${LONG}.jsonl`)).map((l) => l.text.trim()),
    );
    assert.match((await page.locator('#selected').textContent()) ?? '', /\(ended\)$/);

    // the day's list searched by number and by words
    await page.fill('#q', '99 88');
    await until(async () => (await page.locator('#day tbody tr').count()) === 1);
    assert.equal(await page.locator(row('day', SHORT)).count(), 1);
    await page.fill('#q', 'Hello SUPERVISOR');
    await until(async () => (await page.locator('#day tbody tr').count()) === 1 && (await page.locator(row('day', LONG)).count()) === 1);

    // a finished call opens from the store: every line, all final, the hostile one as text
    await page.click(row('day', LONG));
    const stored = readTranscript(path.join(out, `${LONG}.jsonl`)).length;
    await until(async () => (await page.locator('#lines li.final').count()) === stored);
    assert.equal(await page.locator('#lines li .text').first().textContent(), HOSTILE);
    assert.equal(await page.evaluate(() => typeof (globalThis as Record<string, unknown>).__xss), 'undefined');
  });
});
