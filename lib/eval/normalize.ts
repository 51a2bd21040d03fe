/**
 * Text normalisers for word error rate. Both lower-case, drop bracketed annotations and
 * punctuation, split hyphenated words and collapse spaces; numbers stay as they are written.
 */

const BRACKETS = /[<[(][^>\])]*[>\])]/gu;
const APOSTROPHES = /[’‘ʼ`´]/gu;

/**
 * French: elisions are split at the apostrophe (`l'agence` → `l agence`, `aujourd'hui` →
 * `aujourd hui`), so an apostrophe error counts once; accents are kept (they change words).
 */
export function normalizeFrench(text: string): string {
  return basic(text.normalize('NFC').toLowerCase().replace(APOSTROPHES, "'").replace(/'/gu, ' '));
}

/**
 * English, after Whisper's English normaliser in its simplest parts: common contractions
 * expanded, British spellings of the commonest words Americanised, then punctuation removed.
 */
export function normalizeEnglish(text: string): string {
  let t = text.normalize('NFKC').toLowerCase().replace(APOSTROPHES, "'");
  for (const [re, rep] of CONTRACTIONS) t = t.replace(re, rep);
  t = basic(t.replace(/'/gu, ''));
  return t
    .split(' ')
    .map((w) => SPELLINGS[w] ?? w)
    .join(' ');
}

export function normalizeFor(language: string): (text: string) => string {
  if (language === 'fr') return normalizeFrench;
  if (language === 'en') return normalizeEnglish;
  return (t) => basic(t.normalize('NFC').toLowerCase());
}

function basic(t: string): string {
  return t
    .replace(BRACKETS, ' ')
    .replace(/[-‐‑–—]/gu, ' ')
    .replace(/[\p{P}\p{S}]/gu, (c) => (c === "'" ? c : ' '))
    .replace(/\s+/gu, ' ')
    .trim();
}

const CONTRACTIONS: [RegExp, string][] = [
  [/\bwon't\b/gu, 'will not'],
  [/\bcan't\b/gu, 'can not'],
  [/\blet's\b/gu, 'let us'],
  [/\bain't\b/gu, 'aint'],
  [/n't\b/gu, ' not'],
  [/'re\b/gu, ' are'],
  [/'ve\b/gu, ' have'],
  [/'ll\b/gu, ' will'],
  [/'m\b/gu, ' am'],
  [/'d\b/gu, ' would'],
  [/\bit's\b/gu, 'it is'],
  [/\bthat's\b/gu, 'that is'],
  [/\bwhat's\b/gu, 'what is'],
  [/\bthere's\b/gu, 'there is'],
  [/\bhe's\b/gu, 'he is'],
  [/\bshe's\b/gu, 'she is'],
];

const SPELLINGS: Record<string, string> = {
  colour: 'color',
  centre: 'center',
  favourite: 'favorite',
  cancelled: 'canceled',
  organise: 'organize',
  realise: 'realize',
  travelled: 'traveled',
  programme: 'program',
  licence: 'license',
  cheque: 'check',
};
