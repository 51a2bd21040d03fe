import fs from 'node:fs';
import { until } from './wait.js';

/** Open file descriptors of this process (`/proc/self/fd`, Linux). */
export const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;

/** Bytes as MiB, one decimal. */
export const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

/** What {@link watchResources} saw: resident memory (bytes) and file descriptors. */
export interface ResourceFigures {
  readonly rss0: number;
  readonly rssPeak: number;
  readonly rss1: number;
  readonly fds0: number;
  readonly fds1: number;
  /** `RSS before … MiB, peak … MiB, after … MiB; fds … → …`, for `t.diagnostic`. */
  readonly summary: string;
}

/**
 * Watches this process across a barrage: its file descriptors and RSS now, and the RSS peak
 * (sampled every 100 ms; figures only, nothing waits on the samples). `settled()` waits until
 * every descriptor opened since is closed again, stops the sampling and returns the figures.
 */
export function watchResources(): { readonly fds0: number; settled(): Promise<ResourceFigures> } {
  const fds0 = fdCount();
  const rss0 = process.memoryUsage().rss;
  let rssPeak = rss0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
  return {
    fds0,
    async settled() {
      await until(() => fdCount() <= fds0, `file descriptors back to ${fds0}`);
      clearInterval(sampler);
      const rss1 = process.memoryUsage().rss;
      const fds1 = fdCount();
      const summary = `RSS before ${mib(rss0)} MiB, peak ${mib(rssPeak)} MiB, after ${mib(rss1)} MiB; fds ${fds0} → ${fds1}`;
      return { rss0, rssPeak, rss1, fds0, fds1, summary };
    },
  };
}
