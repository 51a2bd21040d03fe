import fs from 'node:fs';
import { NameRegistry, Parser } from 'pickleparser';
import yauzl from 'yauzl';
import { CheckpointError } from '../errors.js';
import type { Checkpoint, StoredType, TensorInfo } from './checkpoint.js';
import { DIM_NAMES, type WhisperDims, expectedTensorShapes } from './dims.js';
import { checkTensorShapes } from './tensor-check.js';
import { widenToFloat32 } from './widen.js';

const STORAGE_TYPES: Record<string, { type: StoredType; bytes: number }> = {
  FloatStorage: { type: 'f32', bytes: 4 },
  HalfStorage: { type: 'f16', bytes: 2 },
  BFloat16Storage: { type: 'bf16', bytes: 2 },
  DoubleStorage: { type: 'f64', bytes: 8 },
};

/** A pickled GLOBAL such as `torch.HalfStorage` arrives as this marker (never called). */
class StorageType {
  constructor(readonly name: string) {}
}

interface StorageRef {
  readonly key: string;
  readonly storage: StorageType;
}

interface TensorRef {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

interface PtTensor extends TensorInfo {
  readonly ref: TensorRef;
  readonly dataStart: number;
  readonly bytesPerElement: number;
}

/**
 * Opens an OpenAI Whisper `.pt` checkpoint: a zip (stored entries) holding `data.pkl`,
 * a pickle of `{dims, model_state_dict}`, and one entry per tensor storage.
 * Only `data.pkl` is read up front; tensors are read from their offsets on demand.
 */
export async function openTorchCheckpoint(file: string): Promise<Checkpoint> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false });
  } catch (err) {
    const detail = (err as Error).message;
    const code = /end of central directory|truncated|unexpected EOF/i.test(detail) ? 'ERR_CHECKPOINT_TRUNCATED' : 'ERR_CHECKPOINT_FORMAT';
    throw new CheckpointError(code, file, `not a readable PyTorch checkpoint (zip: ${detail})`, { cause: err });
  }
  try {
    return await readZip(zip, file);
  } finally {
    zip.close();
  }
}

async function readZip(zip: yauzl.ZipFile, file: string): Promise<Checkpoint> {
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (e: yauzl.Entry) => {
      entries.set(e.fileName, e);
      zip.readEntry();
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  }).catch((err: Error) => {
    throw new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `corrupt zip directory: ${err.message}`, { cause: err });
  });
  const pklName = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pklName) throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, 'not a PyTorch checkpoint: no data.pkl in the zip');
  const root = pklName.slice(0, pklName.length - 'data.pkl'.length);
  const pkl = await readEntry(zip, entries.get(pklName)!, file);

  const registry = new NameRegistry();
  registry.register('collections', 'OrderedDict', () => new Map());
  for (const name of Object.keys(STORAGE_TYPES)) {
    const marker = new StorageType(name);
    registry.register('torch', name, Object.assign(() => marker, { marker }));
  }
  registry.register('torch._utils', '_rebuild_tensor_v2', (storage: StorageRef, offset: number, shape: number[], stride: number[]) => ({
    storage,
    offset,
    shape: [...shape],
    stride: [...stride],
  }));
  registry.register('torch._utils', '_rebuild_parameter', (data: TensorRef) => data);
  const parser = new Parser({
    nameResolver: registry,
    unpicklingTypeOfDictionary: 'Map',
    persistentResolver: {
      resolve(pid: unknown): StorageRef {
        const t = pid as unknown[];
        const marker = Array.isArray(t) ? (t[1] as { marker?: unknown } | undefined)?.marker : undefined;
        if (!Array.isArray(t) || t[0] !== 'storage' || !(marker instanceof StorageType)) {
          const what = Array.isArray(t) && typeof t[1] === 'function' ? (t[1] as { name?: string }).name : String(t?.[1]);
          throw new CheckpointError('ERR_CHECKPOINT_TENSOR_TYPE', file, `unsupported tensor storage type ${what}`);
        }
        return { storage: marker, key: String(t[2]) };
      },
    },
  });
  let obj: unknown;
  try {
    obj = parser.parse(pkl);
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `cannot unpickle data.pkl: ${(err as Error).message}`, { cause: err });
  }
  if (!(obj instanceof Map) || !(obj.get('dims') instanceof Map) || !(obj.get('model_state_dict') instanceof Map)) {
    throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, 'not a Whisper checkpoint: expected a dict with "dims" and "model_state_dict"');
  }
  const dimsMap = obj.get('dims') as Map<string, unknown>;
  const dimsObj: Record<string, number> = {};
  for (const k of DIM_NAMES) {
    const v = dimsMap.get(k);
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `not a Whisper checkpoint: dims.${k} is ${String(v)}`);
    }
    dimsObj[k] = v;
  }
  const dims = dimsObj as unknown as WhisperDims;

  const state = obj.get('model_state_dict') as Map<string, unknown>;
  const tensors = new Map<string, PtTensor>();
  const starts = new Map<string, number>();
  for (const [name, value] of state) {
    const ref = value as TensorRef;
    if (!ref || typeof ref !== 'object' || !('storage' in ref)) continue;
    const st = STORAGE_TYPES[ref.storage.storage.name]!;
    const entryName = `${root}data/${ref.storage.key}`;
    const entry = entries.get(entryName);
    if (!entry) throw new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `tensor ${name}: storage ${entryName} is missing from the zip`);
    if (entry.compressionMethod !== 0) {
      throw new CheckpointError('ERR_CHECKPOINT_FORMAT', file, `tensor ${name}: storage is compressed, PyTorch checkpoints store tensors uncompressed`);
    }
    let start = starts.get(entryName);
    if (start === undefined) {
      try {
        start = (await zip.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
      } catch (err) {
        throw new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `truncated: cannot read the header of ${entryName}`, { cause: err });
      }
      starts.set(entryName, start);
    }
    const count = ref.shape.reduce((a, b) => a * b, 1);
    const lastIndex = ref.offset + ref.shape.reduce((acc, n, i) => acc + (n - 1) * ref.stride[i]!, 0);
    if (count > 0 && (lastIndex + 1) * st.bytes > entry.uncompressedSize) {
      throw new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `tensor ${name} reaches past the end of its storage`);
    }
    tensors.set(name, { shape: ref.shape, type: st.type, ref, dataStart: start, bytesPerElement: st.bytes });
  }
  const size = fs.statSync(file).size;
  for (const [name, t] of tensors) {
    const entry = entries.get(`${root}data/${t.ref.storage.key}`)!;
    if (t.dataStart + entry.uncompressedSize > size) {
      throw new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `truncated: tensor ${name} lies past the end of the file (${size} bytes)`);
    }
  }
  checkTensorShapes(file, tensors, expectedTensorShapes(dims));

  const fd = fs.openSync(file, 'r');
  let closed = false;
  return {
    file,
    format: 'pt',
    dims,
    tensors,
    read(name: string): Float32Array {
      const t = tensors.get(name);
      if (!t) throw new CheckpointError('ERR_CHECKPOINT_MISSING_TENSOR', file, `no tensor named ${name}`);
      return readTensor(fd, t);
    },
    close(): void {
      if (!closed) fs.closeSync(fd);
      closed = true;
    },
  };
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) {
        reject(new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `cannot read ${entry.fileName}: ${err?.message}`, { cause: err }));
        return;
      }
      const parts: Buffer[] = [];
      stream.on('data', (b: Buffer) => parts.push(b));
      stream.on('error', (e) => reject(new CheckpointError('ERR_CHECKPOINT_TRUNCATED', file, `cannot read ${entry.fileName}: ${e.message}`, { cause: e })));
      stream.on('end', () => resolve(Buffer.concat(parts)));
    });
  });
}

function readTensor(fd: number, t: PtTensor): Float32Array {
  const { shape, stride, offset } = t.ref;
  const count = shape.reduce((a, b) => a * b, 1);
  const span = count === 0 ? 0 : shape.reduce((acc, n, i) => acc + (n - 1) * stride[i]!, 0) + 1;
  const raw = Buffer.allocUnsafe(span * t.bytesPerElement);
  fs.readSync(fd, raw, 0, raw.length, t.dataStart + offset * t.bytesPerElement);
  const flat = widenToFloat32(raw, t.type, span);
  if (isContiguous(shape, stride)) return flat;
  // Strided (non-contiguous) storage view: gather in C order.
  const out = new Float32Array(count);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d]! * stride[d]!;
    out[i] = flat[src]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
