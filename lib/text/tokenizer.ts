import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { InternalError, SimulstreamError } from '../errors.js';
import { LANGUAGES, unknownLanguageMessage } from './languages.js';

/** GPT-2 / Whisper pre-tokenisation pattern (tiktoken's pat_str). */
const PIECES = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface SpecialTokens {
  readonly eot: number;
  readonly sot: number;
  readonly translate: number;
  readonly transcribe: number;
  readonly sotLm: number;
  readonly sotPrev: number;
  readonly noSpeech: number;
  readonly noTimestamps: number;
  readonly timestampBegin: number;
}

/**
 * Whisper's byte-level BPE tokenizer (tiktoken's algorithm) with its special tokens:
 * `<|endoftext|>`, `<|startoftranscript|>`, the language tokens, task tokens,
 * `<|startoflm|>`, `<|startofprev|>`, `<|nospeech|>`, `<|notimestamps|>` and 1501 timestamps.
 */
export class Tokenizer {
  readonly special: SpecialTokens;
  readonly languages: readonly string[];
  readonly multilingual: boolean;
  readonly nVocab: number;
  private readonly ranks = new Map<string, number>();
  private readonly bytes: readonly Uint8Array[];
  private nonSpeech?: number[];

  /**
   * @param vocab token byte strings in rank order (the mergeable ranks)
   * @param numLanguages 99, or 100 for large-v3's vocabulary
   */
  constructor(vocab: readonly Uint8Array[], numLanguages: number, multilingual: boolean) {
    this.bytes = vocab;
    vocab.forEach((b, rank) => {
      if (b.length > 0) this.ranks.set(Buffer.from(b).toString('latin1'), rank);
    });
    const eot = vocab.length;
    const langs = LANGUAGES.slice(0, numLanguages);
    const after = eot + 2 + langs.length;
    this.special = {
      eot,
      sot: eot + 1,
      translate: after,
      transcribe: after + 1,
      sotLm: after + 2,
      sotPrev: after + 3,
      noSpeech: after + 4,
      noTimestamps: after + 5,
      timestampBegin: after + 6,
    };
    this.languages = langs;
    this.multilingual = multilingual;
    this.nVocab = after + 6 + 1501;
  }

  /** Loads the vocabulary shipped in `models/vocab/` for a model of `nVocab` tokens. */
  static forVocabSize(nVocab: number, vocab?: readonly Uint8Array[]): Tokenizer {
    const multilingual = nVocab >= 51865;
    const numLanguages = nVocab - 51765 - (multilingual ? 1 : 0);
    const ranks = vocab && vocab.length > 0 ? vocab : loadShippedVocab(multilingual ? 'multilingual' : 'gpt2');
    const t = new Tokenizer(ranks, numLanguages, multilingual);
    if (t.nVocab !== nVocab) {
      throw new SimulstreamError(
        'ERR_VOCABULARY',
        `the vocabulary (${ranks.length} ranks, ${numLanguages} languages) gives ${t.nVocab} tokens, but the model has ${nVocab}`,
      );
    }
    return t;
  }

  /** The `<|xx|>` token of a language code. */
  languageToken(code: string): number {
    const i = this.languages.indexOf(code);
    if (i < 0) throw new SimulstreamError('ERR_UNKNOWN_LANGUAGE', unknownLanguageMessage(code, this.languages));
    return this.special.sot + 1 + i;
  }

  /** The language code of a language token, or undefined. */
  languageOf(token: number): string | undefined {
    const i = token - this.special.sot - 1;
    return i >= 0 && i < this.languages.length ? this.languages[i] : undefined;
  }

  get languageTokens(): number[] {
    return this.languages.map((_, i) => this.special.sot + 1 + i);
  }

  isTimestamp(token: number): boolean {
    return token >= this.special.timestampBegin;
  }

  /** Encodes ordinary text (no special tokens). */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of text.matchAll(PIECES)) {
      const piece = Buffer.from(m[0], 'utf8').toString('latin1');
      const whole = this.ranks.get(piece);
      if (whole !== undefined) out.push(whole);
      else this.bytePairMerge(piece, out);
    }
    return out;
  }

  private bytePairMerge(piece: string, out: number[]): void {
    let parts = Array.from(piece);
    for (;;) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(parts[i]! + parts[i + 1]!);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    for (const p of parts) {
      const r = this.ranks.get(p);
      if (r === undefined) throw new InternalError(`tokenizer: no rank for byte sequence ${JSON.stringify(p)}`);
      out.push(r);
    }
  }

  /** The bytes of ordinary tokens; special and timestamp tokens contribute nothing. */
  decodeBytes(tokens: readonly number[]): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const t of tokens) if (t < this.special.eot) parts.push(this.bytes[t]!);
    return Buffer.concat(parts);
  }

  /** Text of ordinary tokens (incomplete UTF-8 sequences become U+FFFD). */
  decode(tokens: readonly number[]): string {
    return Buffer.from(this.decodeBytes(tokens)).toString('utf8');
  }

  /**
   * Tokens OpenAI's `suppress_tokens="-1"` removes: symbols that mark speaker tags or
   * non-speech annotations, keeping ordinary punctuation.
   */
  nonSpeechTokens(): number[] {
    if (this.nonSpeech) return this.nonSpeech;
    const symbols = [...'"#()*+/:;<=>@[\\]^_`{|}~「」『』'];
    symbols.push(...'<< >> <<< >>> -- --- -( -[ (\' (" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪'.split(' '));
    const misc = [...'♩♪♫♬♭♮♯'];
    const result = new Set<number>([this.encode(' -')[0]!, this.encode(" '")[0]!]);
    for (const s of [...symbols, ...misc]) {
      for (const toks of [this.encode(s), this.encode(` ${s}`)]) {
        if (toks.length === 1 || misc.includes(s)) result.add(toks[0]!);
      }
    }
    this.nonSpeech = [...result].sort((a, b) => a - b);
    return this.nonSpeech;
  }
}

const shipped = new Map<string, Uint8Array[]>();

function loadShippedVocab(name: 'multilingual' | 'gpt2'): Uint8Array[] {
  const hit = shipped.get(name);
  if (hit) return hit;
  const here = path.dirname(fileURLToPath(import.meta.url));
  // lib/text → package root, from the sources or from dist/
  const candidates = [path.resolve(here, '../../models/vocab'), path.resolve(here, '../../../models/vocab')];
  const dir = candidates.find((d) => fs.existsSync(path.join(d, `${name}.tiktoken.gz`)));
  if (!dir) throw new SimulstreamError('ERR_VOCABULARY', `the ${name} vocabulary is missing from models/vocab/`);
  const text = zlib.gunzipSync(fs.readFileSync(path.join(dir, `${name}.tiktoken.gz`))).toString('utf8');
  const vocab: Uint8Array[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [b64, rank] = line.split(' ');
    vocab[Number(rank)] = new Uint8Array(Buffer.from(b64!, 'base64'));
  }
  shipped.set(name, vocab);
  return vocab;
}
