import ort from 'onnxruntime-node';
import { InternalError, SimulstreamError } from '../errors.js';
import type { CompiledModel } from './compile.js';
import type { WhisperDims } from './dims.js';
import type { AlignmentHead } from './whisper-graphs.js';

/** Where the model runs: the CPU, or CUDA (falling back to the CPU with one warning when it cannot start). */
export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  readonly device?: Device;
  /** Intra-op threads (0: ONNX Runtime's default, one per core). */
  readonly threads?: number;
  /** Told when CUDA was asked for but is not available (the model then runs on the CPU). */
  readonly warn?: (msg: string) => void;
}

/** The encoder's result for a batch of audio windows: cross-attention keys/values per decoder layer. */
export interface EncodedAudio {
  readonly batch: number;
  /** Encoder frames (20 ms) of the window: 1500 for Whisper's 30 s, fewer for a fitted window. */
  readonly frames: number;
  readonly crossK: readonly ort.Tensor[];
  readonly crossV: readonly ort.Tensor[];
  /** `[batch, frames, D]`, only when asked for. */
  readonly features?: Float32Array;
}

/** The decoder's self-attention cache: keys and values per layer, `[B, H, P, dh]`. */
export interface KvCache {
  readonly batch: number;
  readonly length: number;
  readonly k: readonly ort.Tensor[];
  readonly v: readonly ort.Tensor[];
}

export interface DecodeStepInput {
  /** `[B][T]` new tokens. */
  readonly tokens: readonly (readonly number[])[];
  readonly cache: KvCache;
  readonly audio: EncodedAudio;
  /** Logits are returned for the last `logitTokens` positions (default 1). */
  readonly logitTokens?: number;
}

export interface DecodeStepOutput {
  /** `[B, logitTokens, n_vocab]` */
  readonly logits: Float32Array;
  readonly cache: KvCache;
  /** `[B, n_alignment_heads, T, frames]` (the encoded window's frames) */
  readonly attention: Float32Array;
}

/**
 * A loaded Whisper model: the ONNX Runtime sessions, shared by every stream. This is the only
 * module that calls `session.run`. Sessions are safe to run concurrently.
 */
export class WhisperModel {
  private constructor(
    readonly dims: WhisperDims,
    readonly alignmentHeads: readonly AlignmentHead[],
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    readonly device: Device,
  ) {}

  /**
   * Starts the sessions. The CPU provider alone unless CUDA is asked for (so CPU-only machines
   * never load CUDA libraries); when CUDA cannot start, a warning and the CPU.
   */
  static async load(compiled: CompiledModel, opts: SessionOptions = {}): Promise<WhisperModel> {
    const options = (device: Device): ort.InferenceSession.SessionOptions => ({
      executionProviders: device === 'cuda' ? ['cuda'] : ['cpu'],
      graphOptimizationLevel: 'all',
      // a failed CUDA start is reported once, as our warning, not also as ONNX Runtime's error log
      ...(device === 'cuda' ? { logSeverityLevel: 4 as const } : {}),
      ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    });
    const start = async (device: Device): Promise<WhisperModel> => {
      const so = options(device);
      const [encoder, decoder] = await Promise.all([
        ort.InferenceSession.create(compiled.encoderPath, so),
        ort.InferenceSession.create(compiled.decoderPath, so),
      ]);
      return new WhisperModel(compiled.dims, compiled.alignmentHeads, encoder, decoder, device);
    };
    try {
      if (opts.device === 'cuda') {
        // ONNX Runtime's own logger prints a failed CUDA start (in colour, once per session) before
        // we can say it once: its process-wide level is read when the first session is created
        ort.env.logLevel = 'fatal';
        try {
          return await start('cuda');
        } catch (err) {
          opts.warn?.(`CUDA is not available (${(err as Error).message.split('\n')[0]}); running on the CPU`);
        }
      }
      return await start('cpu');
    } catch (err) {
      throw new SimulstreamError('ERR_ONNX_RUNTIME', `cannot load the compiled model in ${compiled.dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Encodes `batch` log-mel windows `[batch, n_mels, F]`: F = 3000 (30 s), or an even number of
   * frames below it (a window fitted to shorter audio).
   */
  async encode(mel: Float32Array, batch = 1, withFeatures = false): Promise<EncodedAudio> {
    const d = this.dims;
    const frames = mel.length / (batch * d.n_mels);
    if (!(Number.isInteger(frames) && frames >= 2 && frames <= d.n_audio_ctx * 2 && frames % 2 === 0)) {
      throw new InternalError(`encode: ${mel.length} values are not ${batch} window(s) of ${d.n_mels} mels × an even number of frames ≤ ${d.n_audio_ctx * 2}`);
    }
    const feeds = { mel: new ort.Tensor('float32', mel, [batch, d.n_mels, frames]) };
    const names: string[] = [];
    if (withFeatures) names.push('audio_features');
    for (let l = 0; l < d.n_text_layer; l++) names.push(`cross_k.${l}`, `cross_v.${l}`);
    const out = await this.encoder.run(feeds, names);
    const crossK: ort.Tensor[] = [];
    const crossV: ort.Tensor[] = [];
    for (let l = 0; l < d.n_text_layer; l++) {
      crossK.push(out[`cross_k.${l}`]!);
      crossV.push(out[`cross_v.${l}`]!);
    }
    return {
      batch,
      frames: frames / 2,
      crossK,
      crossV,
      ...(withFeatures ? { features: out.audio_features!.data as Float32Array } : {}),
    };
  }

  /** An empty self-attention cache for `batch` sequences. */
  emptyCache(batch = 1): KvCache {
    const d = this.dims;
    const dh = d.n_text_state / d.n_text_head;
    const empty = (): ort.Tensor => new ort.Tensor('float32', new Float32Array(0), [batch, d.n_text_head, 0, dh]);
    const k: ort.Tensor[] = [];
    const v: ort.Tensor[] = [];
    for (let l = 0; l < d.n_text_layer; l++) {
      k.push(empty());
      v.push(empty());
    }
    return { batch, length: 0, k, v };
  }

  /** One decoder pass over `T` new tokens per sequence, after `cache.length` cached ones. */
  async decode(input: DecodeStepInput): Promise<DecodeStepOutput> {
    const d = this.dims;
    const B = input.tokens.length;
    const T = input.tokens[0]!.length;
    const P = input.cache.length;
    if (input.cache.batch !== B) throw new InternalError(`cache batch ${input.cache.batch} != tokens batch ${B}`);
    if (P + T > d.n_text_ctx) {
      throw new SimulstreamError('ERR_INVALID_OPTION', `decoder context overflow: ${P + T} tokens > n_text_ctx ${d.n_text_ctx}`);
    }
    const tok = new BigInt64Array(B * T);
    input.tokens.forEach((row, b) => {
      if (row.length !== T) throw new InternalError('ragged token batch');
      row.forEach((t, i) => {
        tok[b * T + i] = BigInt(t);
      });
    });
    const pos = new BigInt64Array(T);
    for (let i = 0; i < T; i++) pos[i] = BigInt(P + i);
    const S = P + T;
    const mask = new Float32Array(T * S);
    for (let i = 0; i < T; i++) for (let j = P + i + 1; j < S; j++) mask[i * S + j] = Number.NEGATIVE_INFINITY;
    const logitTokens = Math.min(input.logitTokens ?? 1, T);
    const feeds: Record<string, ort.Tensor> = {
      tokens: new ort.Tensor('int64', tok, [B, T]),
      positions: new ort.Tensor('int64', pos, [1, T]),
      mask: new ort.Tensor('float32', mask, [1, 1, T, S]),
      logits_start: new ort.Tensor('int64', BigInt64Array.from([BigInt(T - logitTokens)]), [1]),
    };
    for (let l = 0; l < d.n_text_layer; l++) {
      feeds[`past_k.${l}`] = input.cache.k[l]!;
      feeds[`past_v.${l}`] = input.cache.v[l]!;
      feeds[`cross_k.${l}`] = input.audio.crossK[l]!;
      feeds[`cross_v.${l}`] = input.audio.crossV[l]!;
    }
    const out = await this.decoder.run(feeds);
    const k: ort.Tensor[] = [];
    const v: ort.Tensor[] = [];
    for (let l = 0; l < d.n_text_layer; l++) {
      k.push(out[`present_k.${l}`]!);
      v.push(out[`present_v.${l}`]!);
    }
    return {
      logits: out.logits!.data as Float32Array,
      attention: out.alignment_attn!.data as Float32Array,
      cache: { batch: B, length: S, k, v },
    };
  }

  /** Reorders (and possibly repeats) the sequences of a cache, as beam search needs. */
  selectCache(cache: KvCache, rows: readonly number[]): KvCache {
    const pick = (t: ort.Tensor): ort.Tensor => {
      const [, H, P, dh] = t.dims as number[];
      const row = H! * P! * dh!;
      const src = t.data as Float32Array;
      const dst = new Float32Array(rows.length * row);
      rows.forEach((r, i) => dst.set(src.subarray(r * row, (r + 1) * row), i * row));
      return new ort.Tensor('float32', dst, [rows.length, H!, P!, dh!]);
    };
    return { batch: rows.length, length: cache.length, k: cache.k.map(pick), v: cache.v.map(pick) };
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}
