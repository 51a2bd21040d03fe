import { Writable, type Transform } from 'node:stream';
import { WebSocket } from 'ws';
import type { Leg } from '../../bridge/transcript-store.js';
import type { ErrorInfo } from '../../errors.js';
import type { Connection } from '../connection.js';
import type { Logger } from '../logger.js';
import { identityFromMetadata } from '../calls/call-identity.js';
import { StreamedCall, type CallContext, type CallFormat } from '../calls/streamed-call.js';

/** The WebSocket protocols of the switches. */
export type WsProtocol = 'audio_stream' | 'audio_fork' | 'jambonz';

/** Close codes (RFC 6455 §7.4.1). */
export const CLOSE = { normal: 1000, goingAway: 1001, policy: 1008, tooBig: 1009, internal: 1011 } as const;

/** What a dialect may do with its call. */
export interface WsCallControl {
  readonly call: StreamedCall;
  readonly log: Logger;
  /** Starts the legs; each leg's segments go through `encoder(leg, index)` and back to the client. Throws as {@link StreamedCall.start}. */
  startLegs(format: CallFormat, encoder: (leg: Leg, index: number) => Transform): void;
  /** A binary frame of audio (backpressure: the socket is paused while the legs are full). */
  audio(data: Buffer): void;
  /** A text frame of metadata: the call's identity if it is a JSON object with one; else logged (once) and ignored. */
  metadata(text: string): void;
  /** Sends one JSON message now (dropped if the client is gone). */
  send(message: object): void;
  /** The audio is over: the final pass runs, its messages are sent, then the server closes (`code`, default 1000). */
  endAudio(code?: number, reason?: string): void;
  /** The client broke its protocol: logged, its audio ends (final pass, lines stored), then the server closes with `code`. */
  reject(error: ErrorInfo, code?: number): void;
}

/** One WebSocket protocol: what its frames mean and how its transcripts go back. */
export interface WsDialect {
  readonly protocol: WsProtocol;
  /** The call has connected. */
  opened(c: WsCallControl): void;
  text(c: WsCallControl, text: string): void;
  binary(c: WsCallControl, data: Buffer): void;
  /** A leg's stream failed (the model, a bug): the dialect's error message. */
  legFailed(c: WsCallControl, leg: Leg, error: ErrorInfo): void;
}

/**
 * One call over a WebSocket: the dialect reads its frames, a {@link StreamedCall} transcribes it,
 * each leg's messages go back as text frames. The client closing or vanishing ends the audio (the
 * final pass runs; its lines are stored although they can no longer be sent); the server closes
 * once every leg is done: 1000, 1001 at shutdown, 1011 when a leg failed, or the dialect's code.
 */
export function serveWsCall(ws: WebSocket, peer: string, dialect: WsDialect, ctx: CallContext, maxFrameBytes: number): Connection {
  let closing: { code: number; reason: string } | null = null;
  let shutdown = false;
  let paused = false;
  let dropped = 0;
  let warnedMetadata = false;
  const call = new StreamedCall(dialect.protocol, peer, ctx, {
    abort: () => ws.terminate(),
    legFailed: (leg, e) => dialect.legFailed(control, leg, e),
  });
  const log = ctx.log;
  const open = (): boolean => ws.readyState === WebSocket.OPEN;

  const control: WsCallControl = {
    call,
    log,
    startLegs: (format, encoder) =>
      call.start(format, (leg, i) => ({
        encoder: encoder(leg, i),
        output: new Writable({
          decodeStrings: false,
          write(message: string, _enc, done) {
            if (!open()) {
              dropped++;
              return done();
            }
            // the callback comes once the frame is written to the socket: a client that does not read holds its leg back
            ws.send(message, (err) => {
              if (err) dropped++;
              done();
            });
          },
        }),
      })),
    audio(data) {
      if (call.write(data) || paused) return;
      paused = true;
      ws.pause();
      void call.drained().then(() => {
        paused = false;
        if (ws.readyState === WebSocket.OPEN) ws.resume();
      });
    },
    metadata(text) {
      const fields = identityFromMetadata(text);
      if (fields === null) {
        if (!warnedMetadata) log.warning(`Client ${peer}: a text frame that is not a JSON object was ignored: ${JSON.stringify(text.slice(0, 80))}`);
        warnedMetadata = true;
        return;
      }
      if (!call.offerIdentity(fields)) log.debug(`Client ${peer}: metadata after the call's identity was fixed (${call.identity().uuid}) was ignored`);
    },
    send(message) {
      if (open()) ws.send(JSON.stringify(message));
      else dropped++;
    },
    endAudio(code = CLOSE.normal, reason = '') {
      closing ??= { code, reason };
      call.end();
    },
    reject(error, code = CLOSE.policy) {
      closing ??= { code, reason: closeReason(error.message) };
      call.fail(error);
    },
  };

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) dialect.binary(control, data);
    else dialect.text(control, data.toString('utf8'));
  });
  ws.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      call.fail({ code: 'ERR_WS_FRAME_TOO_LARGE', message: `a WebSocket frame of more than ${maxFrameBytes} bytes: the call is closed (code ${CLOSE.tooBig})` });
    } else call.fail({ code: 'ERR_STREAM_PROTOCOL', message: `WebSocket: ${err.message}` });
  });
  ws.on('close', (code) => {
    if (!call.started && !closing) log.debug(`Client ${peer} closed (code ${code}) before its audio started`);
    call.end();
  });
  void call.done.then(() => {
    if (dropped > 0) log.info(`Client ${peer}: ${dropped} message(s) not sent: the client had closed`);
    if (ws.readyState !== WebSocket.OPEN) return;
    const c = shutdown ? { code: CLOSE.goingAway, reason: 'the server is shutting down' } : call.failure && !closing ? { code: CLOSE.internal, reason: closeReason(call.failure.message) } : (closing ?? { code: CLOSE.normal, reason: '' });
    ws.close(c.code, c.reason);
  });
  dialect.opened(control);
  return {
    peer,
    done: call.done,
    finish: () => {
      shutdown = true;
      call.finish();
    },
  };
}

/** A close frame's reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5). */
export function closeReason(text: string): string {
  let r = text;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}
