import { BYTES_PER_SECOND } from '../audio/pcm.js';

/** When each point of a stream's audio arrived: a few hundred (bytes, time) marks, oldest dropped. */
export class ArrivalClock {
  private bytes = 0;
  private forgotten = 0;
  private readonly marks: [number, number][] = [];

  /** Seconds of audio received. */
  get seconds(): number {
    return this.bytes / BYTES_PER_SECOND;
  }

  add(n: number): void {
    this.bytes += n;
    this.marks.push([this.bytes, performance.now()]);
    if (this.marks.length > 512) this.forgotten = this.marks.splice(0, 256).at(-1)![0];
  }

  /** When (`performance.now()`) the audio up to `seconds` had arrived; NaN before it has, or when forgotten. */
  at(seconds: number): number {
    const need = seconds * BYTES_PER_SECOND;
    if (need <= this.forgotten) return Number.NaN;
    const m = this.marks.find(([b]) => b >= need);
    return m ? m[1] : Number.NaN;
  }
}
