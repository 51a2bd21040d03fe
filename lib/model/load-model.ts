import os from 'node:os';
import path from 'node:path';
import { LogMel } from '../audio/mel.js';
import { melFilters } from '../audio/mel-filters.js';
import { InvalidOptionError } from '../errors.js';
import { checkOptionKeys, type MissingKeys } from '../util/option-keys.js';
import { Tokenizer } from '../text/tokenizer.js';
import { defaultAlignmentHeads, parseAlignmentHeads, sortHeads, validateHeads } from './alignment-heads.js';
import type { Checkpoint } from './checkpoint.js';
import { compileCheckpoint, type CompiledModel } from './compile.js';
import type { WhisperDims } from './dims.js';
import { int8WeightBitsForThisCpu } from './cpu-features.js';
import type { Int8Group } from './int8-layers.js';
import { openCheckpoint } from './load-checkpoint.js';
import type { AlignmentHead, Precision } from './whisper-graphs.js';
import { type Device, WhisperModel } from './whisper-model.js';

/** Where {@link loadModel} finds the checkpoint and how it compiles and runs it; `modelPath` or `checkpoint` is required. */
export interface LoadModelOptions {
  /** A local OpenAI `.pt` or whisper.cpp `ggml` file. */
  readonly modelPath?: string;
  /** An already opened checkpoint (e.g. the tests' `randomCheckpoint()`), instead of `modelPath`. */
  readonly checkpoint?: Checkpoint;
  /** Where compiled graphs are cached (default: the models directory's `compiled/`). */
  readonly cacheDir?: string;
  /** `'L,H;L,H'` or pairs; default: the official heads of the model, see `defaultAlignmentHeads()`. */
  readonly alignmentHeads?: string | readonly AlignmentHead[];
  /** Where the model runs (default `cpu`); `cuda` falls back to the CPU with one warning when it cannot start. */
  readonly device?: Device;
  /** ONNX Runtime's intra-op threads per session (default, or 0: one per core). */
  readonly threads?: number;
  /** `int8`: 8-bit weights for the encoder and decoder matmuls (faster on CPU). Default `fp32`. */
  readonly precision?: Precision;
  /** In int8, which groups of matmuls run in 8 bits (default: `DEFAULT_INT8_GROUPS` in `lib/model/int8-layers.ts`); for measurements. */
  readonly int8Groups?: readonly Int8Group[];
  /** In int8, bits of magnitude of the weights (default: 8 where the CPU has VNNI, else 7; see `int8WeightBitsForThisCpu()`). */
  readonly int8WeightBits?: 7 | 8;
  /** Progress lines: which alignment heads were chosen, graph compilation and caching. */
  readonly log?: (msg: string) => void;
  /** Warnings (CUDA asked for but unavailable); default: `log`. */
  readonly warn?: (msg: string) => void;
}

/** Every key of {@link LoadModelOptions}, at run time. */
const LOAD_MODEL_OPTION_KEYS = ['modelPath', 'checkpoint', 'cacheDir', 'alignmentHeads', 'device', 'threads', 'precision', 'int8Groups', 'int8WeightBits', 'log', 'warn'] as const satisfies readonly (keyof LoadModelOptions)[];

/** Everything a transcription needs from a model, loaded once and shared by all streams. */
export interface LoadedModel {
  /** The checkpoint's file path (as given in `modelPath`, or the opened checkpoint's `file`). */
  readonly file: string;
  /** The model's dimensions, read from the checkpoint. */
  readonly dims: WhisperDims;
  /** The ONNX Runtime sessions (encoder and decoder). */
  readonly model: WhisperModel;
  /** The model's tokenizer (its vocabulary size picks multilingual or English-only). */
  readonly tokenizer: Tokenizer;
  /** The cross-attention heads AlignAtt reads, as `[layer, head]` pairs, sorted. */
  readonly alignmentHeads: readonly AlignmentHead[];
  /** A fresh log-mel front end (they keep scratch buffers: one per concurrent user). */
  createMel(): LogMel;
  /** Releases the ONNX Runtime sessions; the model cannot be used afterwards. */
  release(): Promise<void>;
  /** How to open the same compiled model again (in a worker thread: see `ServerOptions.workers`); absent for models not loaded by {@link loadModel}. */
  readonly source?: ModelSource;
}

/** What opens a compiled model again, in another thread (structured-clonable: no functions, no sessions). */
export interface ModelSource {
  readonly file: string;
  readonly compiled: CompiledModel;
  /** The checkpoint's own vocabulary (ggml), else the shipped one is used. */
  readonly vocab?: readonly Uint8Array[];
  readonly melFilters: Float32Array;
  readonly device: Device;
  /** The intra-op threads it was loaded with (0: ONNX Runtime's default). */
  readonly threads: number;
}

/** The default model cache: `$SIMULSTREAM_MODELS`, else `$XDG_CACHE_HOME/simulstream`, else `~/.cache/simulstream`. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SIMULSTREAM_MODELS) return env.SIMULSTREAM_MODELS;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'simulstream');
}

/** Opens a checkpoint, compiles it (once; cached) and starts ONNX Runtime sessions. */
export async function loadModel(opts: LoadModelOptions): Promise<LoadedModel> {
  checkOptionKeys<MissingKeys<LoadModelOptions, typeof LOAD_MODEL_OPTION_KEYS>>(opts, LOAD_MODEL_OPTION_KEYS, 'loadModel');
  if (!opts.modelPath && !opts.checkpoint) throw new InvalidOptionError('--model_path', 'no model given');
  const ckpt = opts.checkpoint ?? (await openCheckpoint(opts.modelPath!));
  try {
    let heads: AlignmentHead[];
    if (typeof opts.alignmentHeads === 'string') heads = parseAlignmentHeads(opts.alignmentHeads, ckpt.dims);
    else if (opts.alignmentHeads) {
      validateHeads(opts.alignmentHeads, ckpt.dims);
      heads = sortHeads(opts.alignmentHeads);
    } else {
      const d = defaultAlignmentHeads(ckpt.dims, ckpt.file);
      heads = d.heads;
      opts.log?.(`alignment heads: ${d.source}`);
    }
    // an unusable vocabulary fails before the compilation, not after it
    const tokenizer = Tokenizer.forVocabSize(ckpt.dims.n_vocab, ckpt.vocab);
    const compiled = await compileCheckpoint(ckpt, {
      cacheDir: opts.cacheDir ?? defaultModelsDir(),
      alignmentHeads: heads,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.precision ? { precision: opts.precision } : {}),
      ...(opts.int8Groups ? { int8Groups: opts.int8Groups } : {}),
      ...(opts.precision === 'int8' ? { int8WeightBits: opts.int8WeightBits ?? int8WeightBitsForThisCpu() } : {}),
    });
    const source: ModelSource = {
      file: ckpt.file,
      compiled,
      ...(ckpt.vocab && ckpt.vocab.length > 0 ? { vocab: ckpt.vocab } : {}),
      melFilters: ckpt.melFilters ?? melFilters(ckpt.dims.n_mels),
      device: opts.device ?? 'cpu',
      threads: opts.threads ?? 0,
    };
    const warn = opts.warn ?? opts.log;
    return await openCompiledModel(source, { tokenizer, ...(warn ? { warn } : {}) });
  } finally {
    ckpt.close();
  }
}

/**
 * Starts ONNX Runtime sessions on an already compiled model (a worker thread's copy of the
 * server's model); `threads` overrides the source's intra-op threads.
 */
export async function openCompiledModel(
  source: ModelSource,
  opts: { readonly threads?: number; readonly warn?: (msg: string) => void; readonly tokenizer?: Tokenizer } = {},
): Promise<LoadedModel> {
  const { compiled } = source;
  const dims = compiled.dims;
  const tokenizer = opts.tokenizer ?? Tokenizer.forVocabSize(dims.n_vocab, source.vocab);
  const threads = opts.threads ?? source.threads;
  const model = await WhisperModel.load(compiled, {
    device: source.device,
    ...(threads ? { threads } : {}),
    ...(opts.warn ? { warn: opts.warn } : {}),
  });
  return {
    file: source.file,
    dims,
    model,
    tokenizer,
    alignmentHeads: compiled.alignmentHeads,
    createMel: () => new LogMel(dims.n_mels, source.melFilters),
    release: () => model.release(),
    // the device it runs on: a CUDA request that fell back to the CPU opens on the CPU elsewhere, without trying again
    source: { ...source, device: model.device },
  };
}
