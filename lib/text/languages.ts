import { nearest } from '../util/nearest.js';

/** Whisper's languages in token order (openai/whisper tokenizer.py); large-v3 adds `yue`. */
export const LANGUAGES = [
  'en', 'zh', 'de', 'es', 'ru', 'ko', 'fr', 'ja', 'pt', 'tr', 'pl', 'ca', 'nl', 'ar', 'sv', 'it', 'id', 'hi', 'fi', 'vi',
  'he', 'uk', 'el', 'ms', 'cs', 'ro', 'da', 'hu', 'ta', 'no', 'th', 'ur', 'hr', 'bg', 'lt', 'la', 'mi', 'ml', 'cy', 'sk',
  'te', 'fa', 'lv', 'bn', 'sr', 'az', 'sl', 'kn', 'et', 'mk', 'br', 'eu', 'is', 'hy', 'ne', 'mn', 'bs', 'kk', 'sq', 'sw',
  'gl', 'mr', 'pa', 'si', 'km', 'sn', 'yo', 'so', 'af', 'oc', 'ka', 'be', 'tg', 'sd', 'gu', 'am', 'yi', 'lo', 'uz', 'fo',
  'ht', 'ps', 'tk', 'nn', 'mt', 'sa', 'lb', 'my', 'bo', 'tl', 'mg', 'as', 'tt', 'haw', 'ln', 'ha', 'ba', 'jw', 'su', 'yue',
] as const;

export type LanguageCode = (typeof LANGUAGES)[number];

/** Each language's English name, as OpenAI's tokenizer spells it (`tokenizer.py`'s LANGUAGES). */
export const LANGUAGE_NAMES: Readonly<Record<LanguageCode, string>> = {
  en: 'english', zh: 'chinese', de: 'german', es: 'spanish', ru: 'russian', ko: 'korean', fr: 'french', ja: 'japanese',
  pt: 'portuguese', tr: 'turkish', pl: 'polish', ca: 'catalan', nl: 'dutch', ar: 'arabic', sv: 'swedish', it: 'italian',
  id: 'indonesian', hi: 'hindi', fi: 'finnish', vi: 'vietnamese', he: 'hebrew', uk: 'ukrainian', el: 'greek', ms: 'malay',
  cs: 'czech', ro: 'romanian', da: 'danish', hu: 'hungarian', ta: 'tamil', no: 'norwegian', th: 'thai', ur: 'urdu',
  hr: 'croatian', bg: 'bulgarian', lt: 'lithuanian', la: 'latin', mi: 'maori', ml: 'malayalam', cy: 'welsh', sk: 'slovak',
  te: 'telugu', fa: 'persian', lv: 'latvian', bn: 'bengali', sr: 'serbian', az: 'azerbaijani', sl: 'slovenian',
  kn: 'kannada', et: 'estonian', mk: 'macedonian', br: 'breton', eu: 'basque', is: 'icelandic', hy: 'armenian',
  ne: 'nepali', mn: 'mongolian', bs: 'bosnian', kk: 'kazakh', sq: 'albanian', sw: 'swahili', gl: 'galician', mr: 'marathi',
  pa: 'punjabi', si: 'sinhala', km: 'khmer', sn: 'shona', yo: 'yoruba', so: 'somali', af: 'afrikaans', oc: 'occitan',
  ka: 'georgian', be: 'belarusian', tg: 'tajik', sd: 'sindhi', gu: 'gujarati', am: 'amharic', yi: 'yiddish', lo: 'lao',
  uz: 'uzbek', fo: 'faroese', ht: 'haitian creole', ps: 'pashto', tk: 'turkmen', nn: 'nynorsk', mt: 'maltese',
  sa: 'sanskrit', lb: 'luxembourgish', my: 'myanmar', bo: 'tibetan', tl: 'tagalog', mg: 'malagasy', as: 'assamese',
  tt: 'tatar', haw: 'hawaiian', ln: 'lingala', ha: 'hausa', ba: 'bashkir', jw: 'javanese', su: 'sundanese', yue: 'cantonese',
};

/** Other names OpenAI's `whisper --language` accepts (`tokenizer.py`'s TO_LANGUAGE_CODE aliases). */
const NAME_ALIASES: Readonly<Record<string, LanguageCode>> = {
  burmese: 'my', valencian: 'ca', flemish: 'nl', haitian: 'ht', letzeburgesch: 'lb', pushto: 'ps', panjabi: 'pa',
  moldavian: 'ro', moldovan: 'ro', sinhalese: 'si', castilian: 'es', mandarin: 'zh',
};

/** Every spelling a language may be given in (codes, names, aliases; lower case) → its code. */
const BY_SPELLING: ReadonlyMap<string, LanguageCode> = new Map<string, LanguageCode>([
  ...LANGUAGES.map((c) => [c, c] as [string, LanguageCode]),
  ...Object.entries(LANGUAGE_NAMES).map(([c, n]) => [n, c as LanguageCode] as [string, LanguageCode]),
  ...Object.entries(NAME_ALIASES),
]);

/**
 * A language as a user may write it, as OpenAI's CLI takes it: a code or an English name, in any
 * case (`fr`, `FR`, `French`, `castilian`), → its code; `auto` stays `auto`. `undefined` when
 * it is none of these (see {@link suggestLanguage}).
 */
export function languageCode(input: string): LanguageCode | 'auto' | undefined {
  const key = input.trim().toLowerCase();
  if (key === 'auto') return 'auto';
  return BY_SPELLING.get(key);
}

/** The spelling nearest to an unknown language, as `"french" (fr)` or `"de"`, or undefined when none is close. */
export function suggestLanguage(input: string, known: readonly string[] = LANGUAGES): string | undefined {
  const spellings = [...known, ...known.map((c) => LANGUAGE_NAMES[c as LanguageCode]).filter((n): n is string => n !== undefined)];
  const hit = nearest(input.trim(), spellings);
  if (hit === undefined) return undefined;
  const code = BY_SPELLING.get(hit)!;
  return hit === code ? `"${code}"` : `"${hit}" (${code})`;
}

/** The message for a language that is not known: the input, the nearest known one, where to look. */
export function unknownLanguageMessage(input: string, known: readonly string[] = LANGUAGES): string {
  const hint = suggestLanguage(input, known);
  return `unknown language "${input}"${hint ? `; did you mean ${hint}?` : ''} (give a code or an English name, e.g. fr or French, or auto; simulstream languages lists them)`;
}
