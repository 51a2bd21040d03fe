import type { Tokenizer } from '../text/tokenizer.js';
import { splitToWordTokens } from './words.js';

/**
 * The text context of a stream, SimulStreaming's `TokenBuffer`: the static prompt, then the
 * scrolling prompt and the text of audio that left the buffer. It is kept as text and tokenised
 * when used, prefixed by `<|startofprev|>` when not empty. Trimming removes whole words from the
 * front, never from the static prompt.
 */
export class ContextBuffer {
  text: string;

  constructor(
    private readonly tok: Tokenizer,
    private readonly language: string,
    readonly staticPrompt = '',
    initPrompt = '',
  ) {
    this.text = staticPrompt + initPrompt;
  }

  isEmpty(): boolean {
    return this.text === '';
  }

  /** `<|startofprev|>` + the context's tokens, or nothing when empty. */
  tokens(): number[] {
    if (this.isEmpty()) return [];
    return [this.tok.special.sotPrev, ...this.tok.encode(this.text)];
  }

  append(tokens: readonly number[]): void {
    this.text += this.tok.decode(tokens);
  }

  /** Removes the first word after the static prompt; returns its token count (0: nothing left). */
  trimWord(): number {
    const after = this.staticPrompt.length;
    const words = splitToWordTokens(this.tok, this.tok.encode(this.text.slice(after)), this.language);
    if (words.length === 0) return 0;
    this.text = this.text.slice(0, after) + words.slice(1).map((w) => w.text).join('');
    return words[0]!.tokens.length;
  }

  /**
   * Trims words while the context (without `<|startofprev|>`) exceeds `maxContextTokens` or the
   * whole prompt (`otherTokens` more) exceeds `maxPromptTokens`.
   */
  trim(otherTokens: number, maxContextTokens: number, maxPromptTokens: number): void {
    let c = Math.max(0, this.tokens().length - 1);
    let l = otherTokens + c;
    while (c > maxContextTokens || l > maxPromptTokens) {
      const t = this.trimWord();
      if (t === 0) break;
      c -= t;
      l -= t;
    }
  }
}
