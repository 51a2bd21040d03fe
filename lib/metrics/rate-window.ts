/**
 * Two sums over the last `seconds` seconds, in one-second buckets, for a ratio that follows the
 * present (the real-time factor of the last minute) rather than the whole uptime.
 */
export class RateWindow {
  private readonly num: Float64Array;
  private readonly den: Float64Array;
  private readonly stamps: Float64Array;

  constructor(
    readonly seconds = 60,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.num = new Float64Array(seconds);
    this.den = new Float64Array(seconds);
    this.stamps = new Float64Array(seconds).fill(-1);
  }

  add(numerator: number, denominator: number): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.seconds;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.num[i] = 0;
      this.den[i] = 0;
    }
    this.num[i]! += numerator;
    this.den[i]! += denominator;
  }

  /** Σ numerator / Σ denominator over the window; 0 when the denominator is 0. */
  ratio(): number {
    const sec = Math.floor(this.now() / 1000);
    let n = 0;
    let d = 0;
    for (let i = 0; i < this.seconds; i++) {
      if (this.stamps[i]! > sec - this.seconds) {
        n += this.num[i]!;
        d += this.den[i]!;
      }
    }
    return d > 0 ? n / d : 0;
  }
}
