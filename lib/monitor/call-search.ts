/** What a search looks at in one call: its numbers, and its words normalized with {@link normalizeText}. */
export interface Searchable {
  readonly numbers: readonly string[];
  readonly text: string;
}

/** Lower case, accents removed: what word search compares. */
export function normalizeText(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/**
 * A search of calls by number or by words. A query of digits (with `+`, spaces, dots, dashes,
 * brackets) matches a number containing those digits; any query matches a call whose number
 * contains it, or whose words include every word of it (ignoring case and accents). An empty query
 * matches every call.
 */
export function callMatcher(query: string): (c: Searchable) => boolean {
  const q = query.trim();
  if (!q) return () => true;
  const digits = /^[+\d\s().-]+$/.test(q) ? q.replace(/\D/g, '') : '';
  const lower = q.toLowerCase();
  const words = normalizeText(q).split(/\s+/).filter(Boolean);
  return (c) =>
    c.numbers.some((n) => (digits !== '' && n.replace(/\D/g, '').includes(digits)) || (n !== '' && n.toLowerCase().includes(lower))) ||
    words.every((w) => c.text.includes(w));
}
