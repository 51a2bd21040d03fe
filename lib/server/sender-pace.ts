import { BYTES_PER_SECOND } from '../audio/pcm.js';

/**
 * Whether a client sends in real time, judged from its own pace: the audio it has sent against the
 * wall clock since its first byte, counted as the bytes are read (before any backpressure can slow
 * it). A client that was ever ahead of real time by more than `slack` seconds is a file sender for
 * the rest of its stream, so an overloaded server that slows it down never makes it look live.
 */
export class SenderPace {
  private first = Number.NaN;
  private bytes = 0;
  private fast = false;

  constructor(
    private readonly slack = 1,
    private readonly bytesPerSecond = BYTES_PER_SECOND,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Bytes just read from the client. */
  add(n: number): void {
    if (n <= 0) return;
    const t = this.now();
    if (Number.isNaN(this.first)) this.first = t;
    this.bytes += n;
    if (!this.fast && this.bytes / this.bytesPerSecond > (t - this.first) / 1000 + this.slack) this.fast = true;
  }

  /** No more audio than wall-clock time since the first byte (+ slack), ever. */
  get realTime(): boolean {
    return !this.fast;
  }
}
