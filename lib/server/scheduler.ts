/**
 * Shares the model between streams: at most `slots` policy iterations run at once, the others wait
 * in arrival order. A stream queues one iteration at a time (its pipeline waits for the result), so
 * first-come-first-served is round-robin between streams: none starves, and each gets an equal
 * share of the machine when it cannot keep every stream real-time.
 */
export class Scheduler {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  /** Iterations run so far. */
  completed = 0;

  constructor(readonly slots = 1) {}

  /** Iterations waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      this.completed++;
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}
