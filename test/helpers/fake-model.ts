import { LogMel } from '../../lib/audio/mel.js';
import type { LoadedModel } from '../../lib/model/load-model.js';
import type { DecodeStepInput, DecodeStepOutput, KvCache, WhisperModel } from '../../lib/model/whisper-model.js';
import { OFFICIAL_DIMS } from '../../lib/model/dims.js';
import { Tokenizer } from '../../lib/text/tokenizer.js';

/** One token of a scripted transcript and the encoder frame (within the buffer) it attends to. */
export interface ScriptToken {
  readonly token: number;
  readonly frame: number;
}

export interface FakeModelOptions {
  /** Extra logits added to every step (e.g. a favoured timestamp token). */
  readonly bias?: ReadonlyMap<number, number>;
  readonly heads?: number;
}

/**
 * A stand-in for a Whisper model whose decoder follows a script: after `k` scripted tokens it
 * predicts token `k` (then `<|endoftext|>`), and the query that predicts a token attends to a
 * 7-frame plateau starting at the token's frame, so the policy's most-attended frame is exactly
 * that frame. Every prefix it is given is recorded.
 */
export class FakeModel {
  readonly tokenizer = Tokenizer.forVocabSize(51865);
  readonly dims = OFFICIAL_DIMS.tiny!;
  readonly prefixes: number[][] = [];
  /** Encoder frames dropped from the front of the policy's buffer: script frames are stream frames. */
  offsetFrames = 0;
  /** Context tokens that are prompt, not scripted text. */
  promptTokens = 0;
  private content = 0;
  /** Encoder frames of the last window encoded (1500 for 30 s; fewer for a fitted window). */
  windowFrames = 1500;
  constructor(
    private readonly script: readonly ScriptToken[],
    private readonly opts: FakeModelOptions = {},
  ) {}

  get heads(): number {
    return this.opts.heads ?? 2;
  }

  /**
   * The scripted position of a sequence: the tokens after `<|notimestamps|>` plus the context's
   * (text that left the buffer), less the prompt's.
   */
  private position(seq: readonly number[]): number {
    const s = this.tokenizer.special;
    const start = seq.lastIndexOf(s.noTimestamps) + 1;
    const prev = seq.indexOf(s.sotPrev);
    const context = prev >= 0 ? seq.indexOf(s.sot) - prev - 1 : 0;
    return seq.length - start + context - this.promptTokens;
  }

  asLoadedModel(): LoadedModel {
    const sequences: number[][] = [];
    const model = {
      dims: this.dims,
      encode: async (mel: Float32Array) => {
        this.windowFrames = mel.length / 80 / 2;
        this.content = contentFrames(mel);
        return { batch: 1, frames: this.windowFrames, crossK: [], crossV: [] };
      },
      emptyCache: (batch = 1): KvCache => ({ batch, length: 0, k: [], v: [] }),
      selectCache: (cache: KvCache, rows: readonly number[]): KvCache => {
        const copy = rows.map((r) => [...sequences[r]!]);
        sequences.splice(0, sequences.length, ...copy);
        return { ...cache, batch: rows.length };
      },
      decode: async (input: DecodeStepInput): Promise<DecodeStepOutput> => {
        const B = input.tokens.length;
        const T = input.tokens[0]!.length;
        if (input.cache.length === 0) {
          sequences.splice(0, sequences.length);
          this.prefixes.push([...input.tokens[0]!]);
        }
        const V = this.dims.n_vocab;
        const H = this.heads;
        const logits = new Float32Array(B * V);
        const F = this.windowFrames;
        const attention = new Float32Array(B * H * T * F).fill(1 / F);
        for (let b = 0; b < B; b++) {
          sequences[b] = [...(sequences[b] ?? []), ...input.tokens[b]!];
          const k = this.position(sequences[b]!);
          const next = this.script[k];
          const target = next ? next.token : this.tokenizer.special.eot;
          logits[b * V + target] = 10;
          for (const [t, v] of this.opts.bias ?? []) logits[b * V + t]! += v;
          {
            // past the script (only reachable when <|endoftext|> is banned) the model attends to the
            // end of the audio, as a real one does when it has nothing more to say
            const f = next ? next.frame - this.offsetFrames : Math.max(0, this.content - 3);
            for (let h = 0; h < H; h++) {
              const row = ((b * H + h) * T + (T - 1)) * F;
              attention.fill(0, row, row + F);
              for (let x = f; x < Math.min(F, f + 7); x++) attention[row + x] = 1 / 7;
            }
          }
        }
        return { logits, attention, cache: { batch: B, length: input.cache.length + T, k: [], v: [] } };
      },
      release: async () => {},
    } as unknown as WhisperModel;
    return {
      file: 'fake',
      dims: this.dims,
      model,
      tokenizer: this.tokenizer,
      alignmentHeads: Array.from({ length: this.heads }, (_, h) => [2, h] as const),
      createMel: () => new LogMel(80),
      release: async () => {},
    } as LoadedModel;
  }

}

/** `n` seconds of quiet noise (the fake ignores audio; the policy needs its length). */
export function audio(seconds: number): Float32Array {
  const a = new Float32Array(Math.round(seconds * 16000));
  for (let i = 0; i < a.length; i++) a[i] = 0.01 * Math.sin(i / 7);
  return a;
}

/** Encoder frames holding audio, from a log-mel window whose padding frames sit at its minimum. */
function contentFrames(mel: Float32Array): number {
  const frames = mel.length / 80;
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < mel.length; i++) if (mel[i]! < min) min = mel[i]!;
  let live = 0;
  for (let t = 0; t < frames; t++) {
    for (let m = 0; m < mel.length / frames; m++) {
      if (mel[m * frames + t]! > min + 1e-6) {
        live = t + 1;
        break;
      }
    }
  }
  return Math.max(0, Math.floor(((live - 1) * 160 - 120) / 320));
}
