import type { CallFormat } from '../calls/streamed-call.js';
import { TranscriptionEncoder, type TranscriptionFields } from './transcription-encoder.js';
import type { WsDialect } from './ws-call.js';

/** The frame a transcription is sent in. */
const frame = (fields: TranscriptionFields): object => ({ type: 'transcription', ...fields });

/**
 * FreeSWITCH's mod_audio_stream (`uuid_audio_stream <uuid> start ws://…/audio_stream?mix=…&rate=… <mix> <rate> [metadata]`):
 * the module is the client; a text frame is the metadata (JSON: the call's identity; it may come
 * after the first audio, or never), binary frames are L16 little-endian in the URL's layout and
 * rate. Transcripts go back as text frames
 * `{"type":"transcription","uuid":…,"leg":…,"start_ms":…,"end_ms":…,"text":…,"is_final":…}`,
 * which FreeSWITCH fires as `CUSTOM mod_audio_stream::json` events with the frame as their body.
 * The module closes the socket when the call hangs up: the final pass's lines are stored, not sent.
 */
export function audioStreamDialect(format: CallFormat): WsDialect {
  return {
    protocol: 'audio_stream',
    opened: (c) => c.startLegs(format, (leg) => new TranscriptionEncoder(leg, () => c.call.identity(), frame)),
    text: (c, text) => c.metadata(text),
    binary: (c, data) => c.audio(data),
    legFailed: (c, leg, e) => c.send({ type: 'error', uuid: c.call.identity().uuid, leg, code: e.code, message: e.message }),
  };
}
