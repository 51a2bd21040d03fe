import fs from 'node:fs';
import { Readable } from 'node:stream';

/**
 * Follows a growing file like `tail -f`, from its first byte (or from `start`): waits for it to exist, reads what
 * is appended as it is appended, and ends once `stop()` was called and everything written before
 * has been read (the recording stopped).
 */
export class FileFollower extends Readable {
  private fd: number | null = null;
  private offset = 0;
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly chunk: Buffer;

  constructor(
    readonly path: string,
    private readonly pollMs = 20,
    start = 0,
  ) {
    super();
    this.offset = start;
    this.chunk = Buffer.alloc(64 * 1024);
  }

  /** The file position reached: bytes read so far, plus `start`. */
  get bytesRead(): number {
    return this.offset;
  }

  /** The writer is done: read what is left, then end. */
  stop(): void {
    this.stopping = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.poll();
    }
  }

  override _read(): void {
    this.poll();
  }

  private poll(): void {
    if (this.timer) return;
    const wasStopping = this.stopping;
    if (this.fd === null) {
      try {
        this.fd = fs.openSync(this.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return void this.destroy(err as Error);
        if (wasStopping) return void this.push(null); // never created
        return this.wait();
      }
    }
    fs.read(this.fd, this.chunk, 0, this.chunk.length, this.offset, (err, n) => {
      if (err) return void this.destroy(err);
      if (n > 0) {
        this.offset += n;
        this.push(Buffer.from(this.chunk.subarray(0, n)));
        return;
      }
      // nothing new: done if the writer had stopped before this read began, else wait
      if (wasStopping) this.push(null);
      else this.wait();
    });
  }

  private wait(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll();
    }, this.pollMs);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.fd !== null) fs.close(this.fd, () => cb(err));
    else cb(err);
  }
}
