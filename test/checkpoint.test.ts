import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CheckpointError } from '../lib/errors.js';
import { decodeGgmlTensor } from '../lib/model/ggml.js';
import { openCheckpoint } from '../lib/model/load-checkpoint.js';
import { loadModel } from '../lib/model/load-model.js';
import { floatToHalfBits } from '../lib/util/half.js';
import { REF_FIXTURES, SHARED, SKIP_NO_SHARED, readF32, relativeError, tempDir, testCacheDir } from './helpers/fixtures.js';
import { writeGgml } from './helpers/ggml-writer.js';

const F16 = path.join(REF_FIXTURES, 'ggml-ref-f16.bin');
const tmp = tempDir();

function expectCheckpointError(err: unknown, code: string, file: string, detail: RegExp): true {
  assert.ok(err instanceof CheckpointError, `expected a CheckpointError, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.ok(err.message.startsWith(`${file}: `), `message names the file: ${err.message}`);
  assert.match(err.message, detail);
  return true;
}

describe('corrupt and truncated checkpoints', () => {
  test('a ggml file cut in the middle of a tensor', async () => {
    const f = path.join(tmp, 'cut.bin');
    const full = fs.readFileSync(F16);
    fs.writeFileSync(f, full.subarray(0, Math.floor(full.length * 0.6)));
    await assert.rejects(openCheckpoint(f), (e) => expectCheckpointError(e, 'ERR_CHECKPOINT_TRUNCATED', f, /truncated: tensor \S+ needs \d+ bytes/));
  });

  test('a ggml file cut inside its vocabulary', async () => {
    const f = path.join(tmp, 'cut-vocab.bin');
    fs.writeFileSync(f, fs.readFileSync(F16).subarray(0, 100_000));
    await assert.rejects(openCheckpoint(f), (e) => expectCheckpointError(e, 'ERR_CHECKPOINT_TRUNCATED', f, /truncated: vocabulary entry/));
  });

  test('a file that is not a checkpoint', async () => {
    const f = path.join(tmp, 'notes.txt');
    fs.writeFileSync(f, 'hello, this is not a model\n');
    await assert.rejects(openCheckpoint(f), (e) => expectCheckpointError(e, 'ERR_CHECKPOINT_FORMAT', f, /not a Whisper checkpoint/));
  });

  test('a ggml tensor of an unknown type names the tensor and the type', async () => {
    const f = path.join(tmp, 'badtype.bin');
    const b = Buffer.from(fs.readFileSync(F16));
    const at = b.indexOf('encoder.conv1.weight');
    // header before the name: n_dims, name_len, type, ne[0..2]
    b.writeInt32LE(42, at - 4 * 3 - 4);
    fs.writeFileSync(f, b);
    await assert.rejects(openCheckpoint(f), (e) => expectCheckpointError(e, 'ERR_CHECKPOINT_TENSOR_TYPE', f, /tensor encoder\.conv1\.weight has ggml type 42/));
  });

  test('a missing file', async () => {
    await assert.rejects(openCheckpoint(path.join(tmp, 'nope.pt')), { code: 'ERR_MODEL_NOT_FOUND' });
  });

  test('a truncated .pt file', { skip: SKIP_NO_SHARED }, async () => {
    const f = path.join(tmp, 'cut.pt');
    const full = fs.readFileSync(path.join(SHARED!, 'whisper-reference', 'ref-model.pt'));
    fs.writeFileSync(f, full.subarray(0, full.length >> 1));
    await assert.rejects(openCheckpoint(f), (e) => expectCheckpointError(e, 'ERR_CHECKPOINT_TRUNCATED', f, /not a readable PyTorch checkpoint/));
  });

  test('a zip that is not a Whisper checkpoint', async () => {
    // a zip whose only entry is not data.pkl (stored, 5 bytes)
    const name = Buffer.from('a.txt');
    const data = Buffer.from('hello');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4);
    local.writeUInt32LE(5, 18);
    local.writeUInt32LE(5, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(10, 6);
    central.writeUInt32LE(5, 20);
    central.writeUInt32LE(5, 24);
    central.writeUInt16LE(name.length, 28);
    const cdOffset = local.length + name.length + data.length;
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(1, 8);
    eocd.writeUInt16LE(1, 10);
    eocd.writeUInt32LE(central.length + name.length, 12);
    eocd.writeUInt32LE(cdOffset, 16);
    const f = path.join(tmp, 'other.zip');
    fs.writeFileSync(f, Buffer.concat([local, name, data, central, name, eocd]));
    await assert.rejects(openCheckpoint(f), (e) => expectCheckpointError(e, 'ERR_CHECKPOINT_FORMAT', f, /no data\.pkl/));
  });
});

describe('checkpoint formats agree', () => {
  test('.pt, ggml f32 and ggml f16 hold the same weights', { skip: SKIP_NO_SHARED }, async () => {
    const dir = path.join(SHARED!, 'whisper-reference');
    const pt = await openCheckpoint(path.join(dir, 'ref-model.pt'));
    const f32 = await openCheckpoint(path.join(dir, 'ggml-ref-f32.bin'));
    const f16 = await openCheckpoint(F16);
    assert.deepEqual(pt.dims, f32.dims);
    assert.deepEqual([...pt.tensors.keys()].sort(), [...f32.tensors.keys()].sort());
    for (const name of pt.tensors.keys()) {
      const a = pt.read(name);
      assert.deepEqual(a, f32.read(name), name);
      assert.ok(relativeError(f16.read(name), a) < 1e-3, name);
    }
    for (const c of [pt, f32, f16]) c.close();
  });
});

describe('ggml quantized tensors are dequantised on load', () => {
  const h = (v: number): [number, number] => {
    const bits = floatToHalfBits(v);
    return [bits & 0xff, bits >> 8];
  };
  const nib = (lo: number[], hi: number[]) => lo.map((l, j) => l | (hi[j]! << 4));
  const lo = Array.from({ length: 16 }, (_, j) => j);
  const hi = Array.from({ length: 16 }, (_, j) => 15 - j);

  test('q4_0: (q - 8) · d', () => {
    const raw = Uint8Array.from([...h(0.5), ...nib(lo, hi)]);
    const got = decodeGgmlTensor(raw, 'q4_0', 32);
    assert.deepEqual([...got], [...lo.map((q) => (q - 8) * 0.5), ...hi.map((q) => (q - 8) * 0.5)]);
  });

  test('q4_1: q · d + m', () => {
    const raw = Uint8Array.from([...h(0.25), ...h(-1), ...nib(lo, hi)]);
    const got = decodeGgmlTensor(raw, 'q4_1', 32);
    assert.deepEqual([...got], [...lo.map((q) => q * 0.25 - 1), ...hi.map((q) => q * 0.25 - 1)]);
  });

  test('q5_0: fifth bit from qh, minus 16', () => {
    const qh = 0xf0f0_aaaa >>> 0;
    const raw = Uint8Array.from([...h(2), qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24, ...nib(lo, hi)]);
    const got = decodeGgmlTensor(raw, 'q5_0', 32);
    const want: number[] = [];
    for (let j = 0; j < 16; j++) want[j] = ((lo[j]! | (((qh >>> j) & 1) << 4)) - 16) * 2;
    for (let j = 0; j < 16; j++) want[j + 16] = ((hi[j]! | (((qh >>> (j + 16)) & 1) << 4)) - 16) * 2;
    assert.deepEqual([...got], want);
  });

  test('q5_1: fifth bit from qh, · d + m', () => {
    const qh = 0x0123_4567;
    const raw = Uint8Array.from([...h(0.5), ...h(3), qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24, ...nib(lo, hi)]);
    const got = decodeGgmlTensor(raw, 'q5_1', 32);
    const want: number[] = [];
    for (let j = 0; j < 16; j++) want[j] = (lo[j]! | (((qh >>> j) & 1) << 4)) * 0.5 + 3;
    for (let j = 0; j < 16; j++) want[j + 16] = (hi[j]! | (((qh >>> (j + 16)) & 1) << 4)) * 0.5 + 3;
    assert.deepEqual([...got], want);
  });

  test('q8_0: q · d', () => {
    const qs = Array.from({ length: 32 }, (_, j) => j * 8 - 128);
    const raw = Uint8Array.from([...h(0.125), ...qs.map((q) => q & 0xff)]);
    assert.deepEqual([...decodeGgmlTensor(raw, 'q8_0', 32)], qs.map((q) => q * 0.125));
  });

  for (const type of ['q8_0', 'q4_0'] as const) {
    test(`a ${type} ggml model loads and runs close to the f32 reference`, async () => {
      const src = await openCheckpoint(F16);
      const f = path.join(tmp, `ref-${type}.bin`);
      writeGgml(src, f, type);
      src.close();
      const lm = await loadModel({ modelPath: f, cacheDir: testCacheDir() });
      try {
        const enc = await lm.model.encode(readF32(path.join(REF_FIXTURES, 'vectors', 'jfk.mel.f32')), 1, true);
        const err = relativeError(enc.features!, readF32(path.join(REF_FIXTURES, 'vectors', 'jfk.encoder.f32')));
        // 8-bit weights keep the encoder within a few percent, 4-bit within a few tens of percent
        assert.ok(err < (type === 'q8_0' ? 0.05 : 0.5), `${type} encoder relative error ${err}`);
      } finally {
        await lm.release();
      }
    });
  }
});
