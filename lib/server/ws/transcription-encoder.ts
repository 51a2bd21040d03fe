import { Transform, type TransformCallback } from 'node:stream';
import type { Leg } from '../../bridge/transcript-store.js';
import { formatMs } from '../../stream/line-format.js';
import type { Segment } from '../../stream/utf8-carry.js';
import type { CallIdentity } from '../observer.js';

/** The fields of one transcription message: the line as `transcribe` prints it, its call and leg. */
export interface TranscriptionFields {
  readonly uuid: string;
  readonly leg: Leg;
  readonly start_ms: number;
  readonly end_ms: number;
  /** Exactly as `transcribe` prints it (usually with its leading space). */
  readonly text: string;
  /** From a final pass: the end of the call, or of an utterance with `--vac`. */
  readonly is_final: boolean;
}

/** A segment of a leg as {@link TranscriptionFields}; times rounded as the text lines print them. */
export function transcriptionFields(seg: Segment, leg: Leg, id: CallIdentity): TranscriptionFields {
  return { uuid: id.uuid, leg, start_ms: Number(formatMs(seg.startMs)), end_ms: Number(formatMs(seg.endMs)), text: seg.text, is_final: seg.final };
}

/**
 * FreeSWITCH's WebSocket modules (mod_audio_stream, mod_audio_fork): each line of a leg with text →
 * one JSON text frame, `frame` of its {@link TranscriptionFields} (each module wraps them its own
 * way); lines without text send nothing.
 */
export class TranscriptionEncoder extends Transform {
  constructor(
    private readonly leg: Leg,
    private readonly identity: () => CallIdentity,
    private readonly frame: (fields: TranscriptionFields) => object,
  ) {
    super({ writableObjectMode: true, readableObjectMode: true });
  }

  override _transform(seg: Segment, _enc: BufferEncoding, done: TransformCallback): void {
    if (seg.text === '') return done();
    done(null, JSON.stringify(this.frame(transcriptionFields(seg, this.leg, this.identity()))));
  }
}
