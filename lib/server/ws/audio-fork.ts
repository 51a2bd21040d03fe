import type { CallFormat } from '../calls/streamed-call.js';
import { TranscriptionEncoder, type TranscriptionFields } from './transcription-encoder.js';
import type { WsDialect } from './ws-call.js';

/** The subprotocol mod_audio_fork offers (and the server accepts). */
export const AUDIO_FORK_SUBPROTOCOL = 'audio.drachtio.org';

/** The frame a transcription is sent in. */
const frame = (data: TranscriptionFields): object => ({ type: 'transcription', data });

/**
 * FreeSWITCH's mod_audio_fork (`uuid_audio_fork <uuid> start ws://…/audio_fork?mix=…&rate=… <mix> <rate> [bugname] [metadata]`):
 * as mod_audio_stream, with frames of any size (whatever it buffered), and a zero-length binary
 * frame (`graceful-shutdown`) meaning "flush your finals": the audio ends there, the final pass's
 * messages are sent, then the server closes (later audio is ignored). Transcripts go back as
 * `{"type":"transcription","data":{…}}` (→ `mod_audio_fork::transcription`, with `data` as its
 * body), errors as `{"type":"error","data":{…}}` (→ `mod_audio_fork::error`).
 */
export function audioForkDialect(format: CallFormat): WsDialect {
  let flushed = false;
  return {
    protocol: 'audio_fork',
    opened: (c) => c.startLegs(format, (leg) => new TranscriptionEncoder(leg, () => c.call.identity(), frame)),
    text: (c, text) => c.metadata(text),
    binary: (c, data) => {
      if (flushed) return;
      if (data.length > 0) return c.audio(data);
      flushed = true;
      c.log.debug(`${c.call.peer}: a zero-length frame: flushing the final results`);
      c.endAudio();
    },
    legFailed: (c, leg, e) => c.send({ type: 'error', data: { uuid: c.call.identity().uuid, leg, code: e.code, message: e.message } }),
  };
}
