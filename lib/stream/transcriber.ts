import type { Duplex } from 'node:stream';
import type { Transform, TransformCallback } from 'node:stream';
import chain from 'stream-chain';
import { DEFAULTS } from '../defaults.js';
import { AlignAttSession, type AlignAttOptions } from '../decode/align-att.js';
import { ALIGN_ATT_OPTION_KEYS } from '../decode/align-att-options.js';
import { checkOptionKeys, type MissingKeys } from '../util/option-keys.js';
import type { LoadedModel } from '../model/load-model.js';
import { AlignAttDecoder, type EmittedUpdate } from './align-att-decoder.js';
import { ChunkBuffer, type Chunking } from './chunk-buffer.js';
import { LineEncoder } from './line-encoder.js';
import { PcmValidator } from './pcm-validator.js';
import { SegmentFormatter } from './segment-formatter.js';
import { Utf8Carry } from './utf8-carry.js';
import type { SileroVad } from '../vad/silero-vad.js';
import type { VadIteratorOptions } from '../vad/vad-iterator.js';
import { VoiceActivityGate } from './voice-activity-gate.js';

/** What {@link transcriber} needs: the model, and the policy's and pipeline's settings. */
export interface TranscriberOptions extends AlignAttOptions {
  /** The loaded model; one model serves any number of transcribers. */
  readonly model: LoadedModel;
  /** Seconds of audio per policy iteration (SimulStreaming's `--min-chunk-size`). Default 1.2. */
  readonly minChunkSize?: number;
  /** Yield `Segment` objects instead of `start_ms end_ms text\n` lines. */
  readonly objectMode?: boolean;
  /**
   * Voice activity control (SimulStreaming's `--vac`): only speech is decoded, and each end of
   * speech runs the final pass and starts a fresh context. Load the detector once with
   * `SileroVad.load()` and share it.
   */
  readonly vad?: SileroVad;
  /** Tuning of the voice activity control (Silero's defaults: 0.5, 500 ms, 100 ms). */
  readonly vadOptions?: VadIteratorOptions;
  /**
   * Asked when several chunks are waiting: `true` runs them as one iteration, so a stream that
   * fell behind real time catches up instead of lagging more and more. Without it every chunk is
   * its own iteration, and the output never depends on timing.
   */
  readonly catchUp?: () => boolean;
  /**
   * The end of the stream runs the final pass (frame threshold `finalFrameThreshold`, nothing held
   * back), so the last words are not lost (SimulStreaming's server drops them). Default true.
   */
  readonly finalPass?: boolean;
  /** Where chunks end: `exact` (default) or SimulStreaming's `--comp_unaware` file loop (see {@link Chunking}). */
  readonly chunking?: Chunking;
  /** Told about every policy iteration's update (metrics, monitoring). */
  readonly onUpdate?: (update: EmittedUpdate) => void;
}

/** Every key of {@link TranscriberOptions}, at run time. */
export const TRANSCRIBER_OPTION_KEYS = [
  ...ALIGN_ATT_OPTION_KEYS, 'model', 'minChunkSize', 'objectMode', 'vad', 'vadOptions', 'catchUp', 'finalPass', 'chunking', 'onUpdate',
] as const satisfies readonly (keyof TranscriberOptions)[];

/** A transcriber: raw s16le 16 kHz mono bytes in, lines (or segments) out. */
export type Transcriber = Duplex & {
  /** The stream's policy state (its buffer, context, language). */
  readonly session: AlignAttSession;
};

/**
 * The streaming pipeline as one Duplex:
 * `PcmValidator → ChunkBuffer → AlignAttDecoder → SegmentFormatter → Utf8Carry` (→ lines);
 * with `vad`, a `VoiceActivityGate` takes the place of the `ChunkBuffer`.
 *
 * ```ts
 * fs.createReadStream('call.raw').pipe(transcriber({ model, language: 'fr' })).pipe(process.stdout);
 * ```
 */
export function transcriber(options: TranscriberOptions): Transcriber {
  checkOptionKeys<MissingKeys<TranscriberOptions, typeof TRANSCRIBER_OPTION_KEYS>>(options, TRANSCRIBER_OPTION_KEYS, 'transcriber');
  const session = new AlignAttSession(options.model, options);
  const stages: Transform[] = [
    new PcmValidator(),
    options.vad
      ? new VoiceActivityGate({ ...options.vadOptions, vad: options.vad, minChunkSize: options.minChunkSize ?? DEFAULTS.minChunkSize })
      : new ChunkBuffer(options.minChunkSize ?? DEFAULTS.minChunkSize, options.chunking ?? 'exact'),
    new AlignAttDecoder(session, {
      ...(options.catchUp ? { catchUp: options.catchUp } : {}),
      ...(options.finalPass === false ? { finalPass: false } : {}),
      ...(options.onUpdate ? { onUpdate: options.onUpdate } : {}),
    }),
    new SegmentFormatter({ utteranceEnds: !!options.vad }),
    new Utf8Carry(),
  ];
  if (!options.objectMode) stages.push(new LineEncoder());
  for (const s of stages) guard(s);
  const duplex = chain(stages, {
    writableObjectMode: false,
    readableObjectMode: options.objectMode ?? false,
  }) as unknown as Duplex;
  return Object.assign(duplex, { session });
}

/**
 * Makes a stage's synchronous throw (a bug, a failed assertion) fail the stream through its
 * callback, as an asynchronous error does, instead of escaping from whatever wrote to it (a
 * socket's `data` event: an uncaught exception).
 */
function guard(stage: Transform): void {
  const call = (run: (cb: TransformCallback) => void, done: TransformCallback): void => {
    let called = false;
    try {
      run((err, val) => {
        called = true;
        done(err, val);
      });
    } catch (err) {
      if (called) stage.destroy(err as Error);
      else done(err as Error);
    }
  };
  const transform = stage._transform.bind(stage);
  stage._transform = (chunk: unknown, enc: BufferEncoding, done: TransformCallback): void => call((cb) => transform(chunk, enc, cb), done);
  const flush = stage._flush?.bind(stage);
  if (flush) stage._flush = (done: TransformCallback): void => call(flush, done);
}
