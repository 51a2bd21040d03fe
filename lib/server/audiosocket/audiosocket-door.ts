import net from 'node:net';
import { DEFAULTS } from '../../defaults.js';
import { uuidFromBytes } from '../calls/call-identity.js';
import { StreamedCall, type CallContext } from '../calls/streamed-call.js';
import { listenOn, stopListening, type DoorAddress, type FrontDoor } from '../front-door.js';
import type { StreamRegistry } from '../stream-registry.js';
import { AUDIO_RATES, AudioSocketParser, KIND } from './audiosocket-parser.js';

export interface AudioSocketDoorOptions {
  /** The rate of kind 0x11: 12000 (Asterisk since PR 1492, default) or 16000 (one earlier revision). */
  readonly kind11Rate?: 12000 | 16000;
}

/** AudioSocket's error codes (the optional byte of a 0xff message). */
const ERROR_CODES: Readonly<Record<number, string>> = { 0x01: 'the caller hung up', 0x02: 'frame forwarding error', 0x04: 'memory error' };

/**
 * Asterisk's AudioSocket (`AudioSocket(<uuid>,host:port)` in the dialplan, or
 * `Dial(AudioSocket/host:port/<uuid>)`): Asterisk connects over TCP; the UUID message names the
 * call, audio messages carry signed linear mono at their kind's rate (0x10 8 kHz, 0x11–0x18 up to
 * 192 kHz), DTMF is ignored, a hang-up (0x00) or the socket's end runs the final pass; error
 * messages (0xff) are logged with their code. AudioSocket has no way back for text: the lines go
 * to the store (`--out-dir`), the observers and the live page. A message of an unknown kind, a
 * message cut short by the socket's end, or audio whose rate changes mid-call is that call's
 * protocol error: its audio so far is transcribed to its end, then the socket is closed.
 */
export function audioSocketDoor(at: DoorAddress, ctx: CallContext, registry: StreamRegistry, options: AudioSocketDoorOptions = {}): FrontDoor {
  const { log } = ctx;
  const rates: Record<number, number> = { ...AUDIO_RATES, 0x11: options.kind11Rate ?? DEFAULTS.audioSocketKind11Rate };
  const sockets = new Set<net.Socket>();

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', (err) => log.debug(`AudioSocket client socket: ${err.message}`));
    const peer = `audiosocket ('${socket.remoteAddress}', ${socket.remotePort})`;
    const place = registry.reserve(peer, 'audiosocket');
    if (typeof place === 'string') {
      // AudioSocket cannot say why: the dialplan goes on after AudioSocket() returns
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const call = new StreamedCall('audiosocket', peer, ctx, { abort: () => socket.destroy() });
    place.attach(call);
    const parser = new AudioSocketParser();
    let over = false;
    let rate = 0;
    const stop = (): void => {
      if (over) return;
      over = true;
      socket.resume(); // what it still sends is dropped
    };
    const protocolError = (message: string): void => {
      stop();
      call.fail({ code: 'ERR_STREAM_PROTOCOL', message: `AudioSocket: ${message}` });
    };

    socket.on('data', (chunk: Buffer) => {
      if (over) return;
      for (const m of parser.push(chunk)) {
        if (m.kind === KIND.hangup) {
          stop();
          call.end();
          return;
        }
        if (m.kind === KIND.uuid) {
          const uuid = uuidFromBytes(m.payload);
          if (uuid) call.offerIdentity({ uuid });
          else log.warning(`Client ${peer}: a UUID message of ${m.payload.length} bytes (expected 16) was ignored`);
        } else if (m.kind === KIND.dtmf) {
          log.debug(`Client ${peer}: DTMF ${m.payload.toString('latin1')} ignored`);
        } else if (m.kind === KIND.error) {
          const code = m.payload.length > 0 ? m.payload[0]! : undefined;
          log.warning(`Client ${peer}: Asterisk reports an error${code === undefined ? '' : ` (code 0x${code.toString(16).padStart(2, '0')}: ${ERROR_CODES[code] ?? 'unknown'})`}`);
        } else if (rates[m.kind] !== undefined) {
          const r = rates[m.kind]!;
          if (!call.started) {
            rate = r;
            try {
              call.start({ rate, layout: 'mono' });
            } catch (err) {
              return protocolError(`cannot transcribe this call: ${(err as Error).message}`);
            }
          } else if (r !== rate) return protocolError(`the audio's rate changed mid-call from ${rate} to ${r} Hz (kind 0x${m.kind.toString(16)})`);
          if (!call.write(m.payload)) {
            socket.pause();
            void call.drained().then(() => {
              if (!over) socket.resume();
            });
          }
        } else return protocolError(`a message of unknown kind 0x${m.kind.toString(16).padStart(2, '0')} (${m.payload.length} bytes)`);
      }
    });
    socket.on('end', () => {
      if (over) return;
      const cut = parser.end();
      if (cut) return protocolError(cut);
      stop();
      call.end();
    });
    // vanished (reset): what came is transcribed to its end
    socket.on('close', () => {
      if (!over) log.info(`Client ${peer} disconnected`);
      stop();
      call.end();
    });
    void call.done.then(() => {
      if (!socket.destroyed) socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
    });
  });

  return {
    listen: () => listenOn(server, at, log),
    stop: () => stopListening(server),
    destroySockets: () => {
      for (const s of sockets) s.destroy();
    },
  };
}
