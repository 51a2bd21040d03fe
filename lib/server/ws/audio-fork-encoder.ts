import { Transform, type TransformCallback } from 'node:stream';
import type { Leg } from '../../bridge/transcript-store.js';
import type { Segment } from '../../stream/utf8-carry.js';
import type { CallIdentity } from '../observer.js';
import { transcriptionFields } from './audio-stream-encoder.js';

/**
 * mod_audio_fork: each line with text → one text frame `{"type":"transcription","data":{…}}`
 * (the fields of {@link transcriptionFields}), which FreeSWITCH fires as a
 * `CUSTOM mod_audio_fork::transcription` event with `data` as its body.
 */
export class AudioForkEncoder extends Transform {
  constructor(
    private readonly leg: Leg,
    private readonly identity: () => CallIdentity,
  ) {
    super({ writableObjectMode: true, readableObjectMode: true });
  }

  override _transform(seg: Segment, _enc: BufferEncoding, done: TransformCallback): void {
    if (seg.text === '') return done();
    done(null, JSON.stringify({ type: 'transcription', data: transcriptionFields(seg, this.leg, this.identity()) }));
  }
}
