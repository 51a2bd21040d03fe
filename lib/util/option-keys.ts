import { InvalidOptionError } from '../errors.js';
import { nearest } from './nearest.js';

/** The keys of `T` that a run-time list `K` lacks: `never` when the list is complete. */
export type MissingKeys<T, K extends readonly PropertyKey[]> = Exclude<keyof T, K[number]>;

/**
 * Refuses an option key the entry point does not know (a misspelling such as `langauge` would
 * otherwise be ignored in silence), naming the nearest known key, as undici does. Keys whose value
 * is `undefined` are checked too. Call it as `checkOptionKeys<MissingKeys<Options, typeof KEYS>>(…)`:
 * the type argument must be `never`, so a key list that lacks an option does not compile.
 */
export function checkOptionKeys<_Missing extends never>(options: object, known: readonly string[], where: string): void {
  const allowed = new Set(known);
  for (const key of Object.keys(options)) {
    if (allowed.has(key)) continue;
    const near = nearest(key, known, { maxDistance: Math.max(2, Math.floor(key.length / 3)) });
    throw new InvalidOptionError(key, `${where}() has no option "${key}"${near ? `; did you mean "${near}"?` : ''}`);
  }
}
