import type { CallLayout } from '../calls/streamed-call.js';
import { isSupportedRate } from '../../audio/model-rate.js';
import { JambonzEncoder } from './jambonz-encoder.js';
import type { WsCallControl, WsDialect } from './ws-call.js';
import { errorInfo } from '../../errors.js';

/** What a jambonz `start` message may say. */
interface StartMessage {
  readonly type: 'start';
  readonly language?: string;
  readonly format?: string;
  readonly encoding?: string;
  readonly sampleRateHz?: number;
  readonly interimResults?: boolean;
  /** 2: interleaved stereo (channel 1 the caller, 2 the callee); *check*: not in every jambonz version. */
  readonly channels?: number;
}

/** `fr-FR` → `fr` (Whisper's codes are the BCP 47 primary subtags). */
export function whisperLanguage(bcp47: string): string {
  return bcp47.split(/[-_]/)[0]!.toLowerCase();
}

/** Why a `start` message cannot be served, or null. */
function checkStart(m: StartMessage): string | null {
  if (m.language !== undefined && (typeof m.language !== 'string' || !/^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$/.test(m.language))) return `start: language must be a BCP 47 tag such as "fr-FR", got ${JSON.stringify(m.language)}`;
  if (m.format !== undefined && m.format !== 'raw') return `start: format "${String(m.format)}" is not supported (raw only)`;
  if (m.encoding !== undefined && m.encoding !== 'LINEAR16') return `start: encoding "${String(m.encoding)}" is not supported (LINEAR16 only)`;
  if (typeof m.sampleRateHz !== 'number' || !isSupportedRate(m.sampleRateHz)) return `start: sampleRateHz must be a supported rate (8000, 16000, …), got ${JSON.stringify(m.sampleRateHz)}`;
  if (m.channels !== undefined && m.channels !== 1 && m.channels !== 2) return `start: channels must be 1 or 2, got ${JSON.stringify(m.channels)}`;
  if (m.interimResults !== undefined && typeof m.interimResults !== 'boolean') return 'start: interimResults must be true or false';
  return null;
}

/**
 * jambonz's custom speech-to-text API: it connects with `Authorization: Bearer <api key>` (the
 * server's `--ws-token`), sends `{"type":"start","language":…,"format":"raw","encoding":"LINEAR16","sampleRateHz":…,"interimResults":…}`,
 * then binary LINEAR16 at that rate, then `{"type":"stop"}`, and does not close: the server sends
 * the final transcription and closes. The call is transcribed in `start`'s language (its primary
 * subtag: `fr-FR` → `fr`). Anything out of order gets `{"type":"error","error":…}`: a message that
 * is not JSON, of an unknown type, or a second `start`, is ignored after it; audio before `start`
 * or a `start` that cannot be served ends the call (code 1008).
 */
export function jambonzDialect(serverLanguage: string): WsDialect {
  let state: 'waiting' | 'started' | 'stopped' = 'waiting';
  const error = (c: WsCallControl, message: string): void => c.send({ type: 'error', error: message });
  const refuse = (c: WsCallControl, message: string): void => {
    error(c, message);
    state = 'stopped';
    c.reject({ code: 'ERR_STREAM_PROTOCOL', message: `jambonz: ${message}` });
  };

  function start(c: WsCallControl, m: StartMessage): void {
    if (state !== 'waiting') return error(c, 'start: the recognition has already started');
    const why = checkStart(m);
    if (why) return refuse(c, why);
    const language = m.language ?? serverLanguage;
    const layout: CallLayout = m.channels === 2 ? 'stereo' : 'mono';
    try {
      c.startLegs({ rate: m.sampleRateHz!, layout, ...(m.language ? { language: whisperLanguage(m.language) } : {}) }, (_leg, i) => new JambonzEncoder({ channel: i + 1, language, interim: m.interimResults ?? false }));
    } catch (err) {
      return refuse(c, `start: ${errorInfo(err).message}`);
    }
    state = 'started';
  }

  return {
    protocol: 'jambonz',
    opened: () => {},
    text(c, text) {
      let m: unknown;
      try {
        m = JSON.parse(text);
      } catch {
        return error(c, `not a JSON message: ${text.slice(0, 80)}`);
      }
      const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined;
      if (type === 'start') return start(c, m as StartMessage);
      if (type === 'stop') {
        if (state === 'stopped') return;
        state = 'stopped';
        return c.endAudio();
      }
      error(c, `unknown message type ${JSON.stringify(type)} (expected "start" or "stop")`);
    },
    binary(c, data) {
      if (state === 'started') return c.audio(data);
      if (state === 'waiting') refuse(c, 'audio before the start message');
    },
    legFailed: (c, _leg, e) => error(c, `${e.code}: ${e.message}`),
  };
}
