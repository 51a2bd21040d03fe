import { InvalidArgumentError } from 'commander';

/** Commander argument parsers that name the flag and the allowed range in their error. */
export function floatArg(min: number, max = Number.POSITIVE_INFINITY) {
  return (value: string): number => {
    const v = Number(value);
    if (!Number.isFinite(v) || v < min || v > max) {
      throw new InvalidArgumentError(`expected a number in [${min}, ${max === Number.POSITIVE_INFINITY ? '∞' : max}], got "${value}"`);
    }
    return v;
  };
}

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const v = Number(value);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], got "${value}"`);
    }
    return v;
  };
}

/** Long-flag aliases SimulStreaming accepts, mapped to our single spelling before parsing. */
const FLAG_ALIASES: Record<string, string> = { '--lan': '--language', '--min_chunk_size': '--min-chunk-size', '--comp-unaware': '--comp_unaware' };

/** Rewrites alias flags (`--lan fr`, `--lan=fr`) to their canonical spelling. */
export function normalizeArgv(argv: readonly string[]): string[] {
  return argv.map((a) => {
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const canon = FLAG_ALIASES[flag];
    return canon ? canon + (eq > 0 ? a.slice(eq) : '') : a;
  });
}
