import { once, type EventEmitter } from 'node:events';

/**
 * Resolves once `cond()` holds. It is looked at again every few milliseconds, with no deadline of
 * its own: the test runner's timeout is the only bound, so a busy machine makes a test slower,
 * never wrong.
 */
export async function until(cond: () => boolean | Promise<boolean>, what = 'a condition'): Promise<void> {
  void what; // named for the reader (and a debugger) at the call site
  while (!(await cond())) await new Promise((r) => setTimeout(r, 5));
}

/** The next `event` of `emitter` whose arguments pass `filter` (its arguments). */
export async function nextEvent<T extends unknown[]>(emitter: EventEmitter, event: string, filter: (...args: T) => boolean = () => true): Promise<T> {
  for (;;) {
    const args = (await once(emitter, event)) as T;
    if (filter(...args)) return args;
  }
}

/** A promise with its resolver, for a test that waits on something it is told. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
