import type { Tokenizer } from '../text/tokenizer.js';

/** Seconds per 20 ms encoder frame. */
const FRAME_SECONDS = 0.02;

/** Python's `string.punctuation`; Whisper tests `subword.strip() in string.punctuation` (a substring test). */
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
/** Languages Whisper splits into words by Unicode characters rather than spaces. */
const NO_SPACE_LANGUAGES = new Set(['zh', 'ja', 'th', 'lo', 'my', 'yue']);
const REPLACEMENT = '\ufffd';

export interface WordTokens {
  readonly text: string;
  readonly tokens: number[];
}

/**
 * Whisper's `split_tokens_on_unicode`: groups tokens so that each group decodes to whole
 * characters (a token ending inside a multi-byte character joins the next ones).
 */
export function splitOnUnicode(tok: Tokenizer, tokens: readonly number[]): WordTokens[] {
  const full = tok.decode(tokens);
  const out: WordTokens[] = [];
  let current: number[] = [];
  let offset = 0;
  for (const t of tokens) {
    current.push(t);
    const decoded = tok.decode(current);
    const r = decoded.indexOf(REPLACEMENT);
    if (r < 0 || full[offset + r] === REPLACEMENT) {
      out.push({ text: decoded, tokens: current });
      current = [];
      offset += decoded.length;
    }
  }
  return out;
}

/**
 * Whisper's `split_to_word_tokens`: words start at a token beginning with a space, at punctuation
 * and at special tokens; languages written without spaces are split by characters.
 */
export function splitToWordTokens(tok: Tokenizer, tokens: readonly number[], language: string): WordTokens[] {
  const subwords = splitOnUnicode(tok, tokens);
  if (NO_SPACE_LANGUAGES.has(language)) return subwords;
  const words: { text: string; tokens: number[] }[] = [];
  for (const sw of subwords) {
    const special = sw.tokens[0]! >= tok.special.eot;
    const withSpace = sw.text.startsWith(' ');
    const punctuation = PUNCTUATION.includes(sw.text.trim());
    if (special || withSpace || punctuation || words.length === 0) words.push({ text: sw.text, tokens: [...sw.tokens] });
    else {
      const last = words[words.length - 1]!;
      last.text += sw.text;
      last.tokens.push(...sw.tokens);
    }
  }
  return words;
}

/** A committed word with its times in the stream (seconds), from its tokens' most-attended frames. */
export interface TimedWord {
  /** Seconds of the stream's audio: its first token's most-attended frame. */
  readonly start: number;
  /** Seconds of the stream's audio: its last token's most-attended frame. */
  readonly end: number;
  /** The word as decoded (with its leading space). */
  readonly text: string;
  /** Its tokens. */
  readonly tokens: readonly number[];
  /** Its UTF-8 bytes. */
  readonly bytes: Uint8Array;
}

/**
 * SimulStreaming's word times: a word starts at its first token's most-attended frame and ends at
 * its last token's, 20 ms a frame, plus `offset` (the stream's seconds before the buffer).
 */
export function timedWords(tok: Tokenizer, tokens: readonly number[], frames: readonly number[], language: string, offset: number): TimedWord[] {
  const words: TimedWord[] = [];
  let i = 0;
  for (const w of splitToWordTokens(tok, tokens, language)) {
    const b = frames[i]!;
    i += w.tokens.length;
    const e = frames[i - 1]!;
    words.push({ start: b * FRAME_SECONDS + offset, end: e * FRAME_SECONDS + offset, text: w.text, tokens: w.tokens, bytes: tok.decodeBytes(w.tokens) });
  }
  return words;
}

/** `--never_fire` without a CIF model: the last word of a non-final iteration is held back (how many tokens are kept). */
export function withoutLastWord(tok: Tokenizer, tokens: readonly number[], language: string): number {
  const words = splitToWordTokens(tok, tokens, language);
  return words.length > 1 ? words.slice(0, -1).reduce((n, w) => n + w.tokens.length, 0) : 0;
}
