import { normalizeFor } from './normalize.js';

/** A piece of streamed text and when it was emitted (seconds, the audio's clock). */
export interface EmittedText {
  readonly text: string;
  readonly at: number;
}

/** A normalised word of a streamed transcript and when its last character was emitted. */
export interface EmittedWord {
  readonly word: string;
  readonly at: number;
}

/** What separates words before normalisation: spaces and the hyphens the normalisers split at. */
const SEPARATOR = /[\s\-‐‑–—]/u;

/**
 * The words of a streamed transcript, each with the emission time of its last character. A word
 * may be cut across updates (` ne` then `uf`: AlignAtt commits tokens, not words); it counts as
 * emitted when its last piece is. Each word goes through the language's WER normaliser on its
 * own, so these are the words the scorer counts.
 */
export function emittedWords(pieces: readonly EmittedText[], language: string): EmittedWord[] {
  const norm = normalizeFor(language);
  const out: EmittedWord[] = [];
  let raw = '';
  let at = 0;
  const flush = (): void => {
    if (raw === '') return;
    for (const w of norm(raw).split(' ')) if (w !== '') out.push({ word: w, at });
    raw = '';
  };
  for (const p of pieces) {
    for (const ch of p.text) {
      if (SEPARATOR.test(ch)) flush();
      else {
        raw += ch;
        at = p.at;
      }
    }
  }
  flush();
  return out;
}
