import fs from 'node:fs';
import { CheckpointError } from '../errors.js';
import type { Checkpoint } from './checkpoint.js';
import { GGML_MAGIC, openGgml } from './ggml.js';
import { openTorchCheckpoint } from './torch-checkpoint.js';

/** Opens a Whisper checkpoint, recognising its format from its first bytes (ggml magic or zip). */
export async function openCheckpoint(file: string): Promise<Checkpoint> {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    head = Buffer.alloc(4);
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
  } catch (err) {
    throw new CheckpointError('ERR_MODEL_NOT_FOUND', file, `cannot open the model file: ${(err as Error).message}`, { cause: err });
  }
  if (head.readUInt32LE(0) === GGML_MAGIC) return openGgml(file);
  if (head[0] === 0x50 && head[1] === 0x4b) return openTorchCheckpoint(file);
  throw new CheckpointError(
    'ERR_CHECKPOINT_FORMAT',
    file,
    'not a Whisper checkpoint: expected an OpenAI .pt file (zip) or a whisper.cpp ggml file',
  );
}
