// Every file of examples/ is run here, as a user would run it, with the bundled toy model; each
// one's transcript must be what `simulstream transcribe` prints for the same audio.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { createServer, type SimulstreamServer } from '../lib/server/server.js';
import { findProgram } from '../lib/util/find-program.js';
import { ncClient } from './helpers/clients.js';
import { runCli, toyModelArgs } from './helpers/cli.js';
import { ROOT, TOY, tempDir, testCacheDir, toyPcm } from './helpers/fixtures.js';
import { freePort } from './helpers/clients.js';
import { until } from './helpers/wait.js';

const run = promisify(execFile);
const EXAMPLES = path.join(ROOT, 'examples');
const MODEL = path.join(TOY, 'ggml-toy.bin');
const LANGUAGE = 'fr';
const CHUNK = 0.5;
const WAV = path.join(TOY, 'fr-000.wav');
const has = (p: string): boolean => findProgram(p, process.env.PATH) !== undefined;
const skipWithout = (...programs: string[]): string | false => {
  const missing = programs.filter((p) => !has(p));
  return missing.length === 0 ? false : `needs ${missing.join(', ')} (.ci/run installs them)`;
};
/** The examples see the test's model cache, not the user's. */
const ENV = { ...process.env, SIMULSTREAM_MODELS: testCacheDir() };

describe('examples/', () => {
  let lm: LoadedModel;
  let server: SimulstreamServer;
  let port: number;
  let raw: string;
  /** What `simulstream transcribe` prints for the clip: every example must print the same. */
  let expected: string;

  before(async () => {
    raw = path.join(tempDir(), 'call.raw');
    fs.writeFileSync(raw, toyPcm('fr-000.wav'));
    const r = await runCli(['transcribe', WAV, ...toyModelArgs(), '--language', LANGUAGE, '--min-chunk-size', String(CHUNK)]);
    assert.equal(r.code, 0, r.stderr);
    expected = r.stdout;
    assert.ok(expected.split('\n').length > 2);
    lm = await loadModel({ modelPath: MODEL, cacheDir: testCacheDir() });
    server = createServer({ model: lm, host: '127.0.0.1', port: 0, language: LANGUAGE, minChunkSize: CHUNK });
    port = (await server.listen()).port;
  });
  after(async () => {
    await server.close();
    await lm.release();
  });

  it('every example is tested here', () => {
    const files = fs.readdirSync(EXAMPLES, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(EXAMPLES, f)).isFile());
    const source = fs.readFileSync(new URL(import.meta.url), 'utf8');
    for (const f of files) assert.ok(source.includes(`'${path.basename(f)}'`), `examples/${f} has no test`);
  });

  it('library-raw.mjs: fs.createReadStream(raw).pipe(transcriber())', async () => {
    const { stdout } = await run(process.execPath, [path.join(EXAMPLES, 'library-raw.mjs'), MODEL, raw, LANGUAGE], { env: ENV });
    assert.equal(stdout, expected);
  });

  it('library-file.mjs: openAudio on a WAV file, one pipeline', async () => {
    const { stdout } = await run(process.execPath, [path.join(EXAMPLES, 'library-file.mjs'), MODEL, WAV, LANGUAGE], { env: ENV });
    assert.equal(stdout, expected);
  });

  it('client.mjs: the Node client for the server', async () => {
    const { stdout } = await run(process.execPath, [path.join(EXAMPLES, 'client.mjs'), raw, '127.0.0.1', String(port)]);
    assert.equal(stdout, expected);
  });

  it('client.py: the Python client for the server', { skip: skipWithout('python3') }, async () => {
    const { stdout } = await run('python3', [path.join(EXAMPLES, 'client.py'), raw, '127.0.0.1', String(port)]);
    assert.equal(stdout, expected);
  });

  it('ffmpeg-nc.sh: ffmpeg -i call.mp3 -f s16le -ar 16000 -ac 1 - | nc localhost 43007', { skip: skipWithout('ffmpeg', 'nc') }, async () => {
    const flac = path.join(tempDir(), 'call.flac'); // lossless: the same samples as the WAV
    assert.equal(spawnSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', WAV, flac]).status, 0);
    const { stdout } = await run('bash', [path.join(EXAMPLES, 'ffmpeg-nc.sh'), flac, '127.0.0.1', String(port)]);
    assert.equal(stdout, expected);
  });

  it('microphone.sh: arecord into the server (a stand-in arecord: no sound card here)', { skip: skipWithout('nc') }, async () => {
    // the stand-in checks it is called as the example calls the real one, then "records" the clip
    const bin = tempDir();
    fs.writeFileSync(
      path.join(bin, 'arecord'),
      `#!/bin/sh\n[ "$*" = "-q -f S16_LE -r 16000 -c 1 -t raw" ] || { echo "arecord called as: $*" >&2; exit 64; }\ncat '${raw}'\n`,
      { mode: 0o755 },
    );
    const { stdout } = await run('bash', [path.join(EXAMPLES, 'microphone.sh'), '127.0.0.1', String(port)], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    assert.equal(stdout, expected);
  });

  it('freeswitch-dialplan.xml: its commands, run as FreeSWITCH runs them, with record_session writing the call into the pipe', { skip: skipWithout('python3', 'nc', 'mkfifo') }, async () => {
    // the actions, read by a real XML parser (the file must be well-formed XML)
    const parsed = spawnSync('python3', ['-c', 'import json,sys,xml.etree.ElementTree as E; print(json.dumps([[a.get("application"), a.get("data")] for a in E.parse(sys.argv[1]).iter("action")]))', path.join(EXAMPLES, 'freeswitch-dialplan.xml')]);
    assert.equal(parsed.status, 0, String(parsed.stderr));
    const actions = JSON.parse(String(parsed.stdout)) as [string, string][];
    assert.deepEqual(actions.map((a) => a[0]), ['set', 'set', 'system', 'bgsystem', 'record_session', 'answer', 'bridge']);
    assert.deepEqual(actions.slice(0, 2).map((a) => a[1]), ['record_sample_rate=16000', 'enable_file_write_buffering=false']);
    const spool = tempDir();
    const uuid = 'a1b2c3d4-0000-4000-8000-000000000001';
    const expand = (s: string): string => s.replaceAll('${uuid}', uuid).replaceAll('/var/spool/simulstream', spool).replaceAll('127.0.0.1 43007', `127.0.0.1 ${port}`);
    assert.equal(spawnSync('sh', ['-c', expand(actions[2]![1])]).status, 0, 'system: mkfifo');
    const bg = spawn('sh', ['-c', expand(actions[3]![1])], { stdio: 'ignore' });
    const bgDone = new Promise<number | null>((r) => bg.once('exit', (code) => r(code)));
    // record_session: FreeSWITCH writes the call's 16 kHz samples into the file as they come, closes it at hangup
    const recording = expand(actions[4]![1]);
    fs.writeFileSync(recording, toyPcm('fr-000.wav'));
    assert.equal(await bgDone, 0);
    assert.equal(fs.readFileSync(path.join(spool, `${uuid}.txt`), 'utf8'), expected);
    assert.ok(!fs.existsSync(recording), 'the pipe is removed');
  });

  it('haproxy/haproxy.cfg and haproxy/run.sh: two servers behind HAProxy', { skip: skipWithout('haproxy') }, async () => {
    const ports = { SIMULSTREAM_BIND_PORT: await freePort(), S1_PORT: await freePort(), S1_METRICS: await freePort(), S2_PORT: await freePort(), S2_METRICS: await freePort() };
    const env = { ...ENV, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), SIMULSTREAM: `${process.execPath} ${path.join(ROOT, 'bin', 'simulstream.js')}` };
    assert.equal(spawnSync('haproxy', ['-c', '-q', '-f', path.join(EXAMPLES, 'haproxy', 'haproxy.cfg')], { env }).status, 0, 'a valid configuration');
    const cluster = spawn('bash', [path.join(EXAMPLES, 'haproxy', 'run.sh'), ...toyModelArgs(), '--language', LANGUAGE, '--min-chunk-size', String(CHUNK)], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let log = '';
    cluster.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => cluster.once('exit', (code) => r(code)));
    try {
      for (const m of [ports.S1_METRICS, ports.S2_METRICS]) {
        await until(async () => (await fetch(`http://127.0.0.1:${m}/readyz`).catch(() => null))?.status === 200, `server ready\n${log}`);
      }
      // until HAProxy's first checks pass, it closes connections at once (an empty answer): retry
      let out = '';
      await until(async () => (out = await ncClient(ports.SIMULSTREAM_BIND_PORT, toyPcm('fr-000.wav')).catch(() => '')) !== '', `a call through HAProxy\n${log}`);
      assert.equal(out, expected);
    } finally {
      process.kill(-cluster.pid!, 'SIGTERM');
    }
    await exited;
  });
});
