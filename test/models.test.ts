import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildCli, main } from '../lib/cli/main.js';
import { SimulstreamError } from '../lib/errors.js';
import { catalogFile, catalogModel, catalogModels, type CatalogFile } from '../lib/model/catalog.js';
import { download } from '../lib/model/download.js';
import { cacheState, listModels, mirrorBase, pullModel, removeModel, verifyCachedFile } from '../lib/model/model-cache.js';
import { readAudioFile } from '../lib/audio/wav.js';
import { fittedWindowFrames } from '../lib/audio/mel.js';
import { blankTokens, openaiSuppressTokens } from '../lib/decode/logit-filters.js';
import { decodeWindow } from '../lib/decode/search.js';
import { nextTokenAgreement } from '../lib/eval/agreement.js';
import { compileCheckpoint, quantizeColumns } from '../lib/model/compile.js';
import { int8WeightBitsForThisCpu } from '../lib/model/cpu-features.js';
import { DEFAULT_INT8_GROUPS } from '../lib/model/int8-layers.js';
import { openCheckpoint } from '../lib/model/load-checkpoint.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import onnxProto from 'onnx-proto';
import { TOY, relativeError, tempDir, testCacheDir, toyClipsManifest } from './helpers/fixtures.js';

/** A file server with Range support; `cutAfter` drops the first connection after that many bytes. */
function fileServer(files: Record<string, Buffer>): { start(): Promise<string>; stop(): Promise<void>; cutAfter: number; requests: string[] } {
  const state = { cutAfter: 0, requests: [] as string[] };
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(req.url!.slice(1));
    state.requests.push(`${name} ${req.headers.range ?? ''}`.trim());
    const body = files[name];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    if (from >= body.length) {
      res.writeHead(416).end();
      return;
    }
    const slice = body.subarray(from);
    res.writeHead(m ? 206 : 200, { 'content-length': slice.length, ...(m ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
    if (state.cutAfter > 0) {
      const n = state.cutAfter;
      state.cutAfter = 0;
      res.write(slice.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  });
  return Object.assign(state, {
    start: () => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`))),
    stop: () => new Promise<void>((r) => server.close(() => r())),
  });
}

const payload = crypto.randomBytes(3 * 2 ** 20 + 123);
const sha256 = crypto.createHash('sha256').update(payload).digest('hex');

describe('the model catalog', () => {
  it('knows every official model with its checksum, shape and alignment heads', () => {
    const names = catalogModels().map((m) => m.name);
    for (const n of ['tiny', 'tiny.en', 'base', 'small', 'medium', 'large-v2', 'large-v3', 'large-v3-turbo']) assert.ok(names.includes(n), n);
    const small = catalogModel('small');
    assert.equal(catalogFile(small).sha256, '9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794');
    assert.equal(catalogFile(small, 'ggml').sha1, '55356645c2b361a969dfd0ef2c5a50d530afd8d5');
    assert.equal(small.dims.n_text_layer, 12);
    assert.equal(catalogModel('turbo').name, 'large-v3-turbo');
    assert.equal(catalogModel('large-v3-turbo').dims.n_text_layer, 4);
    assert.equal(catalogModel('tiny.en').dims.n_vocab, 51864);
    assert.deepEqual(catalogModel('tiny').alignmentHeads, [[2, 2], [3, 0], [3, 2], [3, 3], [3, 4], [3, 5]]);
    assert.throws(() => catalogModel('huge'), (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_MODEL_NOT_FOUND' && /known: tiny\.en, tiny/.test(e.message));
  });
});

describe('download and models pull (local HTTP server)', () => {
  const toyModel = fs.readFileSync(path.join(TOY, 'ggml-toy.bin'));
  const srv = fileServer({ 'blob.bin': payload, 'tiny.pt': payload, 'ggml-toy.bin': toyModel });
  let base: string;
  before(async () => (base = await srv.start()));
  after(() => srv.stop());

  it('downloads a fixture model, verifies its SHA-1, renames it into place; it loads', async () => {
    const dir = tempDir();
    const seen: number[] = [];
    const sha1 = crypto.createHash('sha1').update(toyModel).digest('hex');
    await download(`${base}ggml-toy.bin`, path.join(dir, 'ggml-toy.bin'), { checksum: { algorithm: 'sha1', hex: sha1 }, onProgress: (p) => seen.push(p.received) });
    assert.deepEqual(fs.readFileSync(path.join(dir, 'ggml-toy.bin')), toyModel);
    assert.ok(!fs.existsSync(path.join(dir, 'ggml-toy.bin.part')));
    assert.equal(seen.at(-1), toyModel.length);
    const lm = await loadModel({ modelPath: path.join(dir, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    assert.equal(lm.dims.n_text_layer, 2);
    await lm.release();
  });

  it('resumes after a cut connection with a Range request', async () => {
    const dir = tempDir();
    srv.requests.length = 0;
    srv.cutAfter = 1_000_000;
    await download(`${base}blob.bin`, path.join(dir, 'blob.bin'), { checksum: { algorithm: 'sha256', hex: sha256 } });
    assert.deepEqual(fs.readFileSync(path.join(dir, 'blob.bin')), payload);
    assert.equal(srv.requests.length, 2);
    assert.match(srv.requests[1]!, /^blob\.bin bytes=\d+-$/);
    assert.ok(Number(/=(\d+)/.exec(srv.requests[1]!)![1]) >= 1_000_000 - 65536, srv.requests[1]);
  });

  it('rejects a checksum mismatch and installs nothing', async () => {
    const dir = tempDir();
    await assert.rejects(
      download(`${base}blob.bin`, path.join(dir, 'blob.bin'), { checksum: { algorithm: 'sha256', hex: '0'.repeat(64) } }),
      (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_CHECKSUM' && /expected 0000/.test(e.message),
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('offline: tells where to put the file by hand', async () => {
    const dir = tempDir();
    const dead = http.createServer();
    const port = await new Promise<number>((r) => dead.listen(0, '127.0.0.1', () => r((dead.address() as AddressInfo).port)));
    await new Promise<void>((r) => dead.close(() => r()));
    await assert.rejects(pullModel('small', { modelsDir: dir, mirror: `http://127.0.0.1:${port}/` }), (e: unknown) => {
      assert.ok(e instanceof SimulstreamError && e.code === 'ERR_DOWNLOAD');
      assert.match(e.message, /cannot download http:\/\/127\.0\.0\.1:\d+\/small\.pt: .*ECONNREFUSED/);
      assert.ok(e.message.includes(`put it at ${path.join(dir, 'small.pt')} (sha256 9ecf7799`), e.message);
      return true;
    });
    assert.ok(!fs.existsSync(path.join(dir, 'small.pt')));
  });

  it('models pull / list / rm through the CLI, with the catalog checksum', async () => {
    const dir = tempDir();
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    let progress = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    err.on('data', (d: Buffer) => (progress += d.toString()));
    // the fixture is not the real tiny.pt: its checksum cannot match the catalog's
    await assert.rejects(
      buildCli({ stdout: out, stderr: err }).parseAsync(['node', 'simulstream', 'models', 'pull', 'tiny', '--models-dir', dir, '--mirror', base]),
      (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_CHECKSUM',
    );
    assert.match(progress, /^tiny: 100% \(3\.0 of 3\.0 MiB\)$/m);
    assert.ok(!fs.existsSync(path.join(dir, 'tiny.pt')));
    // a file put by hand is listed as unverified (checked before its first use) and removable
    fs.writeFileSync(path.join(dir, 'tiny.pt'), payload);
    await buildCli({ stdout: out, stderr: err }).parseAsync(['node', 'simulstream', 'models', 'list', '--models-dir', dir]);
    assert.match(text, /^tiny +pt +3 MiB +unverified$/m);
    assert.match(text, /^small +pt +461 MiB +-$/m);
    assert.equal(listModels(dir).filter((r) => r.path).length, 1);
    await buildCli({ stdout: out, stderr: err }).parseAsync(['node', 'simulstream', 'models', 'rm', 'tiny', '--models-dir', dir]);
    assert.ok(!fs.existsSync(path.join(dir, 'tiny.pt')));
    assert.throws(() => removeModel('tiny', dir), (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_MODEL_NOT_FOUND');
  });
});

describe('int8 quantization', () => {
  it('quantizes per output column, symmetric, within half a step, to 8 or 7 bits of magnitude', () => {
    const w = Float32Array.from([0.5, -2, 0.3, 1.2, 0, -0.5]); // [K=3, N=2]
    for (const [max, expected] of [
      [127, [127, -127, 76, 76, 0, -32]],
      [63, [63, -63, 38, 38, 0, -16]],
    ] as const) {
      const { q, scale } = quantizeColumns(w, 3, 2, max);
      assert.deepEqual([...scale].map((s) => +(s * max).toFixed(6)), [0.5, 2]);
      assert.deepEqual([...q], expected);
      for (let i = 0; i < w.length; i++) assert.ok(Math.abs(q[i]! * scale[i % 2]! - w[i]!) <= scale[i % 2]! / 2 + 1e-7);
    }
  });

  it('keeps 8 bits where the CPU has VNNI (or is not x86), 7 where MLAS would saturate or the flags are unknown', () => {
    const flags = (f: string) => () => `processor\t: 0\nflags\t\t: fpu avx2 ${f} sse4_2\n`;
    assert.equal(int8WeightBitsForThisCpu('x64', flags('avx512f avx512_vnni')), 8);
    assert.equal(int8WeightBitsForThisCpu('x64', flags('avx_vnni')), 8);
    assert.equal(int8WeightBitsForThisCpu('x64', flags('avx512f avx512bw')), 7);
    assert.equal(int8WeightBitsForThisCpu('x64', () => { throw new Error('ENOENT'); }), 7);
    assert.equal(int8WeightBitsForThisCpu('arm64', flags('')), 8);
  });
});

describe('int8 and devices on the toy model', () => {
  it('int8 encoder and decoder stay close to fp32, and CUDA falls back to the CPU with a warning', async () => {
    const warnings: string[] = [];
    const common = { modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() } as const;
    const fp32 = await loadModel(common);
    const int8 = await loadModel({ ...common, precision: 'int8', device: 'cuda', warn: (m) => warnings.push(m) });
    try {
      assert.equal(int8.model.device, 'cpu');
      assert.match(warnings.join('\n'), /^CUDA is not available \(.+\); running on the CPU$/m);
      const mel = fp32.createMel().compute(readAudioFile(path.join(TOY, 'fr-000.wav')).samples);
      const [a, b] = [await fp32.model.encode(mel), await int8.model.encode(mel)];
      const ka = a.crossK[0]!.data as Float32Array;
      const kb = b.crossK[0]!.data as Float32Array;
      const err = relativeError(kb, ka);
      assert.ok(err > 0 && err < 0.1, `encoder relative error ${err}`);
      const tok = fp32.tokenizer;
      const prefix = [[tok.special.sot, tok.languageToken('fr'), tok.special.transcribe, tok.special.noTimestamps]];
      const la = (await fp32.model.decode({ tokens: prefix, cache: fp32.model.emptyCache(), audio: a })).logits;
      const lb = (await int8.model.decode({ tokens: prefix, cache: int8.model.emptyCache(), audio: b })).logits;
      const argmax = (l: Float32Array): number => l.indexOf(Math.max(...l));
      assert.equal(argmax(lb), argmax(la), 'same first token');
    } finally {
      await fp32.release();
      await int8.release();
    }
  });
});

describe('int8 groups and fitted windows on the toy model', () => {
  let fp32: LoadedModel;
  let int8: LoadedModel;
  before(async () => {
    const common = { modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() } as const;
    fp32 = await loadModel(common);
    int8 = await loadModel({ ...common, precision: 'int8' });
  });
  after(async () => {
    await fp32.release();
    await int8.release();
  });

  it('the default int8 set runs these matmuls in 8 bits, and the others in float32', async () => {
    const ckpt = await openCheckpoint(path.join(TOY, 'ggml-toy.bin'));
    const compiled = await compileCheckpoint(ckpt, { cacheDir: testCacheDir(), alignmentHeads: [[1, 2], [1, 3]], precision: 'int8' }).finally(() => ckpt.close());
    assert.deepEqual(compiled.int8Groups, DEFAULT_INT8_GROUPS);
    const quantized = (file: string): string[] =>
      onnxProto.onnx.ModelProto.decode(fs.readFileSync(file))
        .graph!.node!.filter((n) => n.opType === 'DynamicQuantizeMatMul')
        .map((n) => n.input![1]!.replace(/\.q8$/, ''));
    // 4 encoder blocks: fused q/k/v, attention out, MLP out; the cross K/V of both decoder layers, fused
    assert.deepEqual(quantized(compiled.encoderPath).sort(), [
      ...[0, 1, 2, 3].flatMap((i) => [`encoder.blocks.${i}.attn.out`, `encoder.blocks.${i}.attn.qkv`, `encoder.blocks.${i}.mlp.2`]),
      'decoder.cross_kv',
    ].sort());
    // 2 decoder blocks: cross-attention query and out, both MLP layers; the logits
    assert.deepEqual(quantized(compiled.decoderPath).sort(), [
      ...[0, 1].flatMap((i) => [`decoder.blocks.${i}.cross_attn.out`, `decoder.blocks.${i}.cross_attn.query`, `decoder.blocks.${i}.mlp.0`, `decoder.blocks.${i}.mlp.2`]),
      'decoder.logits',
    ].sort());
  });

  it('int8 agrees with float32 on the next token at 97 % or more of the positions of the bundled clips (teacher-forced)', async () => {
    const tok = fp32.tokenizer;
    const suppressTokens = openaiSuppressTokens(tok);
    let positions = 0;
    let agreements = 0;
    let klSum = 0;
    for (const e of toyClipsManifest()) {
      const mel = fp32.createMel().compute(readAudioFile(e.audio).samples);
      const audio = await fp32.model.encode(mel);
      const initial = [tok.special.sot, tok.languageToken(e.language), tok.special.transcribe, tok.special.noTimestamps];
      const greedy = await decodeWindow(fp32.model, audio, initial, 1, { suppressTokens, suppressAtBegin: blankTokens(tok), eot: tok.special.eot });
      const r = await nextTokenAgreement({ model: fp32.model, audio }, { model: int8.model, audio: await int8.model.encode(mel) }, [...initial, ...greedy.tokens], greedy.tokens.length + 1, suppressTokens);
      positions += r.positions;
      agreements += r.agreements;
      klSum += r.klSum;
    }
    assert.ok(positions > 60, `${positions} positions`);
    assert.ok(agreements / positions >= 0.97, `agreement ${agreements}/${positions}`);
    assert.ok(klSum / positions < 5e-3, `mean KL ${klSum / positions}`);
  });

  it('the encoder takes a window fitted to the audio: cross K/V and the alignment attention have its frames', async () => {
    const samples = readAudioFile(path.join(TOY, 'fr-000.wav')).samples;
    const frames = fittedWindowFrames(samples.length);
    assert.equal(frames, 2 * Math.ceil(samples.length / 32000) * 100);
    for (const lm of [fp32, int8]) {
      const audio = await lm.model.encode(lm.createMel().compute(samples, frames));
      assert.equal(audio.frames, frames / 2);
      assert.deepEqual(audio.crossK[0]!.dims, [1, 4, 32, frames / 2]);
      assert.deepEqual(audio.crossV[1]!.dims, [1, 4, frames / 2, 32]);
      const tok = lm.tokenizer;
      const prefix = [tok.special.sot, tok.languageToken('fr'), tok.special.transcribe, tok.special.noTimestamps];
      const out = await lm.model.decode({ tokens: [prefix], cache: lm.model.emptyCache(), audio });
      assert.equal(out.attention.length, lm.alignmentHeads.length * prefix.length * (frames / 2));
    }
    await assert.rejects(fp32.model.encode(new Float32Array(80 * 3001)), { code: 'ERR_INTERNAL' });
  });
});

describe('the model cache: hand-placed files, mirrors on disk, models list --json', () => {
  const sha = (b: Buffer, alg: string): string => crypto.createHash(alg).update(b).digest('hex');
  const entry = (file: string, body: Buffer): CatalogFile => ({ file, url: 'https://example.invalid/x', sha256: sha(body, 'sha256'), sizeMiB: 3 });

  it('a hand-placed file is unverified until its first use, hashed once, and hashed again only when it changes', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'model.bin');
    fs.writeFileSync(file, payload);
    const f = entry('model.bin', payload);
    assert.equal(cacheState(file, f), 'unverified');
    const log: string[] = [];
    await verifyCachedFile(file, f, (m) => log.push(m));
    assert.deepEqual(log, [`verifying ${file} (sha256; once)`]);
    assert.equal(cacheState(file, f), 'verified');
    await verifyCachedFile(file, f, (m) => log.push(m));
    assert.equal(log.length, 1, 'not hashed a second time');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.equal(cacheState(file, f), 'unverified', 'a changed file is checked again');
  });

  it('a hand-placed file that does not match its checksum is refused before use and left in place', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'model.bin');
    fs.writeFileSync(file, payload);
    const f = { ...entry('model.bin', payload), sha256: '1'.repeat(64) };
    await assert.rejects(verifyCachedFile(file, f), (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_CHECKSUM' && e.message.includes(`${file}: sha256 is ${sha(payload, 'sha256')}, expected 1111`));
    assert.ok(fs.existsSync(file));
    assert.equal(cacheState(file, f), 'unverified');
    // through the CLI: a hand-placed tiny.pt (not the real one) is refused with one line, exit 1
    fs.writeFileSync(path.join(dir, 'tiny.pt'), payload);
    const { code, stderr } = await runMain(['models', 'pull', 'tiny', '--models-dir', dir]);
    assert.equal(code, 1);
    assert.match(stderr, /^verifying .*tiny\.pt \(sha256; once\)\nsimulstream: .*tiny\.pt: sha256 is [0-9a-f]{64}, expected 65147644a518[^\n]*\n$/u);
  });

  it('--mirror takes a directory, a file:// URL or http(s); anything else is a usage error', async () => {
    const mirror = tempDir();
    const body = fs.readFileSync(path.join(TOY, 'ggml-toy.bin'));
    fs.writeFileSync(path.join(mirror, 'ggml-toy.bin'), body);
    assert.equal(mirrorBase(mirror).href, `${pathToFileURL(mirror).href}/`);
    assert.equal(mirrorBase('http://10.0.0.1/models').href, 'http://10.0.0.1/models/');
    for (const base of [mirrorBase(mirror), new URL(`${pathToFileURL(mirror).href}/`)]) {
      const dest = path.join(tempDir(), 'ggml-toy.bin');
      const seen: number[] = [];
      await download(new URL('ggml-toy.bin', base).href, dest, { checksum: { algorithm: 'sha1', hex: sha(body, 'sha1') }, onProgress: (p) => seen.push(p.received) });
      assert.deepEqual(fs.readFileSync(dest), body);
      assert.equal(seen.at(-1), body.length);
    }
    await assert.rejects(download(new URL('nothing.bin', mirrorBase(mirror)).href, path.join(tempDir(), 'n.bin')), (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_DOWNLOAD' && /no such file/u.test(e.message));
    assert.throws(() => mirrorBase('ftp://host/models'), (e: unknown) => e instanceof SimulstreamError && e.code === 'ERR_INVALID_OPTION');
    // the CLI: a path works (the real tiny.pt is not there: a download error naming the file, exit 1)
    const dir = tempDir();
    const r = await runMain(['models', 'pull', 'tiny', '--models-dir', dir, '--mirror', mirror]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^simulstream: cannot download file:\/\/.*\/tiny\.pt: no such file/mu);
    assert.doesNotMatch(r.stderr, /TypeError|\n\s+at /u);
    const bad = await runMain(['models', 'pull', 'tiny', '--models-dir', dir, '--mirror', 'ftp://x/']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^simulstream: --mirror: ftp:\/\/ is not supported.* \(see simulstream models pull --help\)$/mu);
  });

  it('models list --json: every catalog file with its state', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'tiny.pt'), payload);
    fs.writeFileSync(path.join(dir, 'ggml-base.bin.part'), payload.subarray(0, 10));
    const { code, stdout } = await runMain(['models', 'list', '--json', '--models-dir', dir]);
    assert.equal(code, 0);
    const rows = JSON.parse(stdout) as { name: string; format: string; file: string; sizeMiB: number; state: string; path?: string }[];
    assert.equal(rows.length, catalogModels().reduce((n, m) => n + Object.keys(m.files).length, 0));
    assert.deepEqual(rows.find((r) => r.name === 'tiny' && r.format === 'pt'), { name: 'tiny', format: 'pt', file: 'tiny.pt', sizeMiB: 3, state: 'unverified', path: path.join(dir, 'tiny.pt') });
    assert.equal(rows.find((r) => r.name === 'base' && r.format === 'ggml')!.state, 'partial');
    assert.equal(rows.find((r) => r.name === 'small' && r.format === 'pt')!.state, 'missing');
  });
});

/** Runs the command line as the binary does; returns its exit code and output. */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await main(['node', 'simulstream', ...args], { stdout: out, stderr: err });
  return { code, stdout, stderr };
}
