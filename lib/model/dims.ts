/** The hyper-parameters of a Whisper model, as OpenAI's `ModelDimensions`. */
export interface WhisperDims {
  /** Mel bins of the log-mel input (80, or 128 for large-v3). */
  readonly n_mels: number;
  /** Encoder positions of a 30 s window (1500). */
  readonly n_audio_ctx: number;
  /** Encoder width. */
  readonly n_audio_state: number;
  /** Encoder attention heads. */
  readonly n_audio_head: number;
  /** Encoder layers. */
  readonly n_audio_layer: number;
  /** Vocabulary size (51865 multilingual, 51864 English-only, 51866 large-v3). */
  readonly n_vocab: number;
  /** Decoder positions (448 tokens). */
  readonly n_text_ctx: number;
  /** Decoder width. */
  readonly n_text_state: number;
  /** Decoder attention heads. */
  readonly n_text_head: number;
  /** Decoder layers. */
  readonly n_text_layer: number;
}

export const DIM_NAMES = [
  'n_mels',
  'n_audio_ctx',
  'n_audio_state',
  'n_audio_head',
  'n_audio_layer',
  'n_vocab',
  'n_text_ctx',
  'n_text_state',
  'n_text_head',
  'n_text_layer',
] as const satisfies readonly (keyof WhisperDims)[];

/** Model shapes of the official checkpoints (model-sources.md). */
export const OFFICIAL_DIMS: Readonly<Record<string, WhisperDims>> = Object.freeze({
  tiny: dims(80, 384, 6, 4, 384, 6, 4, 51865),
  'tiny.en': dims(80, 384, 6, 4, 384, 6, 4, 51864),
  base: dims(80, 512, 8, 6, 512, 8, 6, 51865),
  'base.en': dims(80, 512, 8, 6, 512, 8, 6, 51864),
  small: dims(80, 768, 12, 12, 768, 12, 12, 51865),
  'small.en': dims(80, 768, 12, 12, 768, 12, 12, 51864),
  medium: dims(80, 1024, 16, 24, 1024, 16, 24, 51865),
  'medium.en': dims(80, 1024, 16, 24, 1024, 16, 24, 51864),
  'large-v1': dims(80, 1280, 20, 32, 1280, 20, 32, 51865),
  'large-v2': dims(80, 1280, 20, 32, 1280, 20, 32, 51865),
  'large-v3': dims(128, 1280, 20, 32, 1280, 20, 32, 51866),
  'large-v3-turbo': dims(128, 1280, 20, 32, 1280, 20, 4, 51866),
});

function dims(
  n_mels: number,
  n_audio_state: number,
  n_audio_head: number,
  n_audio_layer: number,
  n_text_state: number,
  n_text_head: number,
  n_text_layer: number,
  n_vocab: number,
): WhisperDims {
  return {
    n_mels,
    n_audio_ctx: 1500,
    n_audio_state,
    n_audio_head,
    n_audio_layer,
    n_vocab,
    n_text_ctx: 448,
    n_text_state,
    n_text_head,
    n_text_layer,
  };
}

/** Multilingual vocabularies have 51865 (or more) tokens; English-only ones 51864. */
export function isMultilingual(d: WhisperDims): boolean {
  return d.n_vocab >= 51865;
}

/** Number of language tokens: 99, or 100 for large-v3's vocabulary (which adds `yue`). */
export function numLanguages(d: WhisperDims): number {
  return d.n_vocab - 51765 - (isMultilingual(d) ? 1 : 0);
}

/**
 * The PyTorch shape of every tensor a Whisper checkpoint must hold, in OpenAI's names.
 * Both checkpoint readers are checked against this table.
 */
export function expectedTensorShapes(d: WhisperDims): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const A = d.n_audio_state;
  const T = d.n_text_state;
  m.set('encoder.conv1.weight', [A, d.n_mels, 3]);
  m.set('encoder.conv1.bias', [A]);
  m.set('encoder.conv2.weight', [A, A, 3]);
  m.set('encoder.conv2.bias', [A]);
  m.set('encoder.positional_embedding', [d.n_audio_ctx, A]);
  const block = (prefix: string, n: number, cross: boolean): void => {
    const attn = (p: string): void => {
      m.set(`${p}.query.weight`, [n, n]);
      m.set(`${p}.query.bias`, [n]);
      m.set(`${p}.key.weight`, [n, n]);
      m.set(`${p}.value.weight`, [n, n]);
      m.set(`${p}.value.bias`, [n]);
      m.set(`${p}.out.weight`, [n, n]);
      m.set(`${p}.out.bias`, [n]);
    };
    attn(`${prefix}.attn`);
    m.set(`${prefix}.attn_ln.weight`, [n]);
    m.set(`${prefix}.attn_ln.bias`, [n]);
    if (cross) {
      attn(`${prefix}.cross_attn`);
      m.set(`${prefix}.cross_attn_ln.weight`, [n]);
      m.set(`${prefix}.cross_attn_ln.bias`, [n]);
    }
    m.set(`${prefix}.mlp.0.weight`, [4 * n, n]);
    m.set(`${prefix}.mlp.0.bias`, [4 * n]);
    m.set(`${prefix}.mlp.2.weight`, [n, 4 * n]);
    m.set(`${prefix}.mlp.2.bias`, [n]);
    m.set(`${prefix}.mlp_ln.weight`, [n]);
    m.set(`${prefix}.mlp_ln.bias`, [n]);
  };
  for (let i = 0; i < d.n_audio_layer; i++) block(`encoder.blocks.${i}`, A, false);
  m.set('encoder.ln_post.weight', [A]);
  m.set('encoder.ln_post.bias', [A]);
  m.set('decoder.token_embedding.weight', [d.n_vocab, T]);
  m.set('decoder.positional_embedding', [d.n_text_ctx, T]);
  for (let i = 0; i < d.n_text_layer; i++) block(`decoder.blocks.${i}`, T, true);
  m.set('decoder.ln.weight', [T]);
  m.set('decoder.ln.bias', [T]);
  return m;
}
