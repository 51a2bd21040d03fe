// The package as a stranger gets it: `npm pack`, installed into an empty directory (with
// ONNXRUNTIME_NODE_INSTALL=skip, as the Dockerfile's build skips the CUDA download), then run from
// there — the Docker image's own command (deploy/Dockerfile's CMD and HEALTHCHECK) included, so
// nothing the runtime needs can be left out of the package or the image.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { ROOT, TOY, tempDir, testCacheDir } from './helpers/fixtures.js';
import { freePort } from './helpers/clients.js';
import { nodeChild, untilReady } from './helpers/cli.js';

const run = promisify(execFile);
const HAS_NPM = spawnSync('npm', ['--version']).status === 0;
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string; files: string[] };

interface PackedFile {
  readonly path: string;
}

describe('the npm package', { skip: HAS_NPM ? false : 'needs npm' }, () => {
  let files: string[];
  let installed: string;

  before(async () => {
    const out = tempDir();
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: ROOT, maxBuffer: 1 << 26 });
    const packed = (JSON.parse(stdout) as { filename: string; files: PackedFile[] }[])[0]!;
    files = packed.files.map((f) => f.path);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"stranger","private":true}\n');
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(out, packed.filename)], {
      cwd: dir,
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
      maxBuffer: 1 << 26,
    });
    installed = path.join(dir, 'node_modules', 'simulstream');
  });

  it('ships what runs and what it points at: the page, the catalog, the vocabularies, LICENSE; no source map without its source', () => {
    for (const f of ['LICENSE', 'README.md', 'bin/simulstream.js', 'dist/lib/index.js', 'dist/lib/cli/main.js', 'lib/monitor/static/index.html', 'lib/monitor/static/live.js', 'models/catalog.json']) {
      assert.ok(files.includes(f), f);
    }
    assert.ok(files.some((f) => f.startsWith('models/vocab/')));
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('dist/test/') || f.startsWith('bench/')), 'no tests or benchmarks');
    const maps = files.filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0);
    for (const m of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(ROOT, m), 'utf8')) as { sources: string[] };
      for (const s of map.sources) assert.ok(files.includes(path.posix.normalize(path.posix.join(path.posix.dirname(m), s))), `${m} → ${s}`);
    }
    assert.equal(PKG.license, 'MIT');
    assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/u);
    for (const k of ['repository', 'homepage', 'bugs']) assert.ok(PKG[k], k);
  });

  it('installed into an empty directory: --version, and serve --http-port answers /healthz and serves its page', async () => {
    const bin = path.join(installed, 'bin', 'simulstream.js');
    const { stdout } = await run(process.execPath, [bin, '--version']);
    assert.equal(stdout, `${PKG.version}\n`);
    const httpPort = await freePort();
    const { child, log, exited } = nodeChild([
      bin, 'serve', '--model_path', path.join(TOY, 'ggml-toy.bin'), '--models-dir', testCacheDir(),
      '--host', '127.0.0.1', '--port', '0', '--http-port', String(httpPort), '--log-level', 'INFO',
    ], { cwd: tempDir() });
    try {
      await untilReady(httpPort);
      assert.equal((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200);
      const page = await fetch(`http://127.0.0.1:${httpPort}/`);
      assert.equal(page.status, 200, log.text());
      assert.match(await page.text(), /<html/iu);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log.text());
  });

  it('the Docker image\'s command and health check, run from the installed package', async () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^FROM node:(22|24)-/mu, 'a Node LTS base image');
    const cmd = JSON.parse(/^CMD (\[.*\])$/mu.exec(dockerfile)![1]!) as string[];
    const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/mu.exec(dockerfile)![1]!) as string[];
    assert.deepEqual(entry, ['node', 'bin/simulstream.js']);
    const health = /^HEALTHCHECK .* CMD (node -e .*)$/mu.exec(dockerfile)![1]!;
    // the command as it is, on free ports, with the bundled toy model in place of `--model small`
    const [port, metricsPort] = [await freePort(), await freePort()];
    const args = cmd.flatMap((a, i) => (a === 'small' && cmd[i - 1] === '--model' ? [] : a === '--model' ? ['--model_path', path.join(TOY, 'ggml-toy.bin')] : [a]));
    const swapped = args.map((a, i) => (args[i - 1] === '--port' ? String(port) : args[i - 1] === '--metrics-port' ? String(metricsPort) : a));
    assert.ok(swapped.includes('--metrics-port') && swapped.includes('0.0.0.0'), 'the image binds every address, with no token');
    const { child, log, exited } = nodeChild([path.join(installed, entry[1]!), ...swapped, '--models-dir', testCacheDir()], { cwd: installed });
    try {
      await untilReady(metricsPort);
      const check = spawnSync('bash', ['-c', health.replace('9100', String(metricsPort))]);
      assert.equal(check.status, 0, `HEALTHCHECK: ${String(check.stderr)}`);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/`)).status, 404, 'no page on the metrics port');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log.text());
  });
});
