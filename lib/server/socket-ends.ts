import type net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { SimulstreamError } from '../errors.js';

/** The two directions of a client's socket, as a pipeline's first and last stream. */
export interface SocketEnds {
  /** What the client sends. Ends when the client half-closes; fails with `ERR_CLIENT_GONE` when it vanishes. */
  readonly input: PassThrough;
  /** What the client is sent. Its end half-closes the socket. */
  readonly output: Writable;
  /** Stops reading the client: `input` ends (the stream's final pass runs) and later bytes are dropped. */
  stopReading(): void;
}

/**
 * A socket as the ends of one pipeline, with TCP's flow control in both directions. The pipeline's
 * teardown ends or destroys these views, never the socket itself: when a stream fails, the
 * connection still decides what the client is told (a JSON error line) and when the socket closes.
 */
export function socketEnds(socket: net.Socket): SocketEnds {
  const gone = (cause?: Error): SimulstreamError =>
    new SimulstreamError('ERR_CLIENT_GONE', cause ? `the client disconnected (${cause.message})` : 'the client disconnected', { cause });
  const input = new PassThrough();
  socket.pipe(input);
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (socket.destroyed || !socket.writable) return done(gone());
      if (socket.write(chunk)) return done();
      const settle = (): void => {
        socket.off('drain', settle);
        socket.off('close', settle);
        done(socket.destroyed ? gone() : null);
      };
      socket.on('drain', settle);
      socket.on('close', settle);
    },
    final(done) {
      if (!socket.destroyed) socket.end();
      done();
    },
  });
  let lastError: Error | undefined;
  socket.on('error', (err) => (lastError = err));
  // vanished (reset, or closed without a half-close): both views fail, the pipeline frees the stream
  socket.on('close', () => {
    if (!input.writableEnded) input.destroy(gone(lastError));
    if (!output.writableFinished) output.destroy(gone(lastError));
  });
  return {
    input,
    output,
    stopReading() {
      socket.unpipe(input);
      if (!input.writableEnded && !input.destroyed) input.end();
      socket.resume();
    },
  };
}
