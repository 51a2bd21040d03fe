import { Transform, type TransformCallback } from 'node:stream';
import type { Segment } from '../../stream/utf8-carry.js';

export interface JambonzEncoderOptions {
  /** 1 (mono, or stereo's left: the caller) or 2 (stereo's right). */
  readonly channel: number;
  /** The `start` message's language, echoed in every transcription. */
  readonly language: string;
  /** `interimResults`: send the utterance so far after each line. */
  readonly interim: boolean;
}

/**
 * jambonz's custom speech-to-text API, one channel: after each line the utterance so far,
 * `{"type":"transcription","is_final":false,"alternatives":[{"transcript":…}],"channel":…,"language":…}`
 * (with `interimResults`), and `is_final: true` with the whole utterance at each of its ends: a
 * final pass (each end of speech with `--vac`; without it the only one is at the end of the
 * call, so an utterance is all the call says after the last final), and at `stop`, where a
 * channel that never had a final still gets one (its transcript possibly empty).
 */
export class JambonzEncoder extends Transform {
  private utterance = '';
  private finals = 0;

  constructor(private readonly opts: JambonzEncoderOptions) {
    super({ writableObjectMode: true, readableObjectMode: true });
  }

  override _transform(seg: Segment, _enc: BufferEncoding, done: TransformCallback): void {
    this.utterance += seg.text;
    if (seg.final) {
      if (this.utterance.trim() !== '') this.final();
      this.utterance = '';
    } else if (seg.text !== '' && this.opts.interim) this.push(this.message(false));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.utterance.trim() !== '' || this.finals === 0) this.final();
    done();
  }

  private final(): void {
    this.push(this.message(true));
    this.finals++;
  }

  private message(isFinal: boolean): string {
    return JSON.stringify({
      type: 'transcription',
      is_final: isFinal,
      alternatives: [{ transcript: this.utterance.trim() }],
      channel: this.opts.channel,
      language: this.opts.language,
    });
  }
}
