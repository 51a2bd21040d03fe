import type { Logger } from '../server/logger.js';

type Method<O, K extends keyof O> = Extract<O[K], (...args: never[]) => unknown>;

/** Tells every observer of a list about one event. */
export type FanOut<O> = <K extends keyof O>(name: K, ...args: Parameters<Method<O, K>>) => void;

/**
 * One fan-out for the server's and the bridge's observers (metrics, the live page, an embedding
 * application's hooks): each event goes to every observer that has the method. An observer that
 * throws never breaks a stream or a call: its first failure per method is a warning, later ones are
 * logged at DEBUG.
 */
export function fanOut<O extends object>(observers: readonly O[], log: Logger): FanOut<O> {
  const warned = new Set<PropertyKey>();
  return (name, ...args) => {
    for (const observer of observers) {
      const f = observer[name] as unknown;
      if (typeof f !== 'function') continue;
      try {
        (f as (...a: unknown[]) => void).apply(observer, args);
      } catch (err) {
        const msg = `observer ${String(name)} failed: ${err instanceof Error ? err.message : String(err)}`;
        if (warned.has(name)) log.debug(msg);
        else {
          warned.add(name);
          log.warning(`${msg} (further failures of it are logged at DEBUG)`);
        }
      }
    }
  };
}
