/**
 * The streaming pipeline's stages, to compose a pipeline of your own
 * (`transcriber()` is `PcmValidator → ChunkBuffer → AlignAttDecoder → SegmentFormatter → Utf8Carry
 * → LineEncoder`; with voice activity control a `VoiceActivityGate` takes the `ChunkBuffer`'s
 * place). Each stage is a Node `Transform` that knows nothing of the others; they agree on chunk
 * types only.
 *
 * ```ts
 * import { pipeline } from 'node:stream/promises';
 * import { loadModel } from 'simulstream';
 * import { AlignAttSession, AlignAttDecoder, ChunkBuffer, PcmValidator, SegmentFormatter, Utf8Carry } from 'simulstream/stages';
 *
 * const model = await loadModel({ modelPath: './small.pt' });
 * const session = new AlignAttSession(model, { language: 'fr' });
 * await pipeline(source, new PcmValidator(), new ChunkBuffer(0.5), new AlignAttDecoder(session), new SegmentFormatter(), new Utf8Carry(), sink);
 * ```
 *
 * @packageDocumentation
 */
export { PcmValidator } from './stream/pcm-validator.js';
export { ChunkBuffer } from './stream/chunk-buffer.js';
export type { AudioChunk, Chunking } from './stream/chunk-buffer.js';
export { VoiceActivityGate } from './stream/voice-activity-gate.js';
export type { VoiceActivityGateOptions } from './stream/voice-activity-gate.js';
export { AlignAttSession } from './decode/align-att.js';
export type { AlignAttOptions, AlignAttUpdate, StopReason, TimedWord } from './decode/align-att.js';
export { AlignAttDecoder } from './stream/align-att-decoder.js';
export type { AlignAttDecoderOptions, EmittedUpdate } from './stream/align-att-decoder.js';
export { SegmentFormatter } from './stream/segment-formatter.js';
export type { RawSegment } from './stream/segment-formatter.js';
export { Utf8Carry } from './stream/utf8-carry.js';
export type { Segment } from './stream/utf8-carry.js';
export { LineEncoder } from './stream/line-encoder.js';
export type { LineEncoderOptions, OutputFormat } from './stream/line-encoder.js';
