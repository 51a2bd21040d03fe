import { Duplex } from 'node:stream';
import { SimulstreamError } from '../errors.js';
import type { StreamFailure } from '../stream/line-encoder.js';

/** The stable code of any error: its own `code` when it is a simulstream error, else `ERR_INTERNAL`. */
export function failureOf(err: unknown): StreamFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  return { error: { code: e instanceof SimulstreamError ? e.code : 'ERR_INTERNAL', message: e.message } };
}

/**
 * Wraps one stream's processing (a transcriber) so that its failure, thrown or emitted, ends that
 * stream alone: the output gets one {@link StreamFailure} item and ends, input written after the
 * failure is read and dropped (the client is not reset while it is still sending), and
 * `onFailure` is told once. Destroying the boundary destroys the inner stream (its state is freed).
 */
export class ErrorBoundary extends Duplex {
  private failed = false;
  private ended = false;
  private finishing = false;
  private pending: (() => void) | null = null;

  constructor(
    private readonly inner: Duplex,
    private readonly onFailure: (failure: StreamFailure, err: unknown) => void,
  ) {
    super({ writableObjectMode: inner.writableObjectMode, readableObjectMode: true, allowHalfOpen: true });
    inner.on('data', (x: unknown) => {
      if (!this.failed && !this.push(x)) inner.pause();
    });
    inner.on('end', () => {
      if (this.failed) return;
      this.ended = true;
      this.push(null);
    });
    inner.on('error', (err) => this.fail(err));
    inner.on('drain', () => this.release());
  }

  override _read(): void {
    if (!this.failed) this.inner.resume();
  }

  /**
   * Ends the inner stream's input now (final pass, remaining output) while this boundary's input
   * stays open: what is written afterwards is dropped, and the writer may end it whenever it likes.
   */
  finish(): void {
    if (this.failed || this.finishing) return;
    this.finishing = true;
    this.release();
    try {
      this.inner.end();
    } catch (err) {
      this.fail(err);
    }
  }

  override _write(chunk: unknown, enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.failed || this.finishing) return done();
    let more: boolean;
    try {
      more = this.inner.write(chunk, enc);
    } catch (err) {
      this.fail(err);
      return done();
    }
    if (more || this.failed) done();
    else this.pending = done;
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.failed && !this.finishing) {
      this.finishing = true;
      try {
        this.inner.end();
      } catch (err) {
        this.fail(err);
      }
    }
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.release();
    if (!this.inner.destroyed) this.inner.destroy();
    done(err);
  }

  private release(): void {
    const p = this.pending;
    this.pending = null;
    p?.();
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    const failure = failureOf(err);
    this.onFailure(failure, err);
    if (!this.ended && !this.destroyed) {
      this.ended = true;
      this.push(failure);
      this.push(null);
    }
    this.release();
    if (!this.inner.destroyed) this.inner.destroy();
  }
}
