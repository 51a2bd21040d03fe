import type { Writable } from 'node:stream';

/** Most output bytes queued for one client beyond what backpressure allows (TCP clients and streamed calls alike). */
export const MAX_OUTPUT_BYTES = 1 << 20;

/**
 * Watches what a client has not read. Backpressure already holds a client's output to the socket's
 * buffer (its decoding waits meanwhile); a client whose output stays blocked for `timeoutMs`, or
 * whose queue passes `maxBytes`, is given up on: `onStall` is called once.
 */
export class OutputWatch {
  private timer: NodeJS.Timeout | null = null;
  private fired = false;

  constructor(
    private readonly out: Writable,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
    private readonly onStall: (reason: string) => void,
  ) {
    out.on('drain', () => this.clear());
    out.on('close', () => this.stop());
  }

  /** Call after output was written to the socket. */
  wrote(): void {
    if (this.fired || this.out.destroyed) return;
    if (this.out.writableLength > this.maxBytes) return this.fire(`${this.out.writableLength} bytes of output queued (cap ${this.maxBytes})`);
    if (this.out.writableNeedDrain && !this.timer && this.timeoutMs > 0) {
      this.timer = setTimeout(() => this.fire(`its output was not read for ${this.timeoutMs / 1000} s`), this.timeoutMs);
      this.timer.unref();
    }
  }

  stop(): void {
    this.clear();
    this.fired = true;
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(reason: string): void {
    if (this.fired) return;
    this.stop();
    this.onStall(reason);
  }
}
