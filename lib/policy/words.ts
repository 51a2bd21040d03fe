import type { Tokenizer } from '../text/tokenizer.js';

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
