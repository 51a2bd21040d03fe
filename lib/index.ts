/**
 * simulstream: simultaneous Whisper transcription on ONNX Runtime, with the AlignAtt policy of
 * SimulStreaming.
 *
 * Streaming: raw s16le 16 kHz mono bytes in, `start_ms end_ms text` lines (or segments) out.
 *
 * ```ts
 * import fs from 'node:fs';
 * import { pipeline } from 'node:stream/promises';
 * import { loadModel, transcriber } from 'simulstream';
 *
 * const model = await loadModel({ modelPath: './small.pt' });   // once; shared by every stream
 * await pipeline(fs.createReadStream('call.raw'), transcriber({ model, language: 'fr' }), process.stdout);
 * ```
 *
 * Offline (whole-file decoding, OpenAI's greedy or beam search):
 *
 * ```ts
 * import { loadModel, transcribeOffline, readAudioFile } from 'simulstream';
 * const { text } = await transcribeOffline(model, readAudioFile('call.wav').samples, { language: 'fr' });
 * ```
 *
 * The many-clients TCP server (SimulStreaming's protocol) is {@link createServer}; the FreeSWITCH
 * bridge {@link createBridge}. The pipeline's stages, to compose your own, are in
 * `simulstream/stages`.
 *
 * @packageDocumentation
 */
export { ErrorCodes, SimulstreamError, CheckpointError, InvalidOptionError, StartupError } from './errors.js';
export type { ErrorCode, ErrorInfo } from './errors.js';
export { DEFAULTS } from './defaults.js';
export type { Defaults } from './defaults.js';
export { loadModel } from './model/load-model.js';
export type { LoadModelOptions, LoadedModel } from './model/load-model.js';
export type { Device } from './model/whisper-model.js';
export type { Precision } from './model/whisper-graphs.js';
export type { WhisperDims } from './model/dims.js';
export { readAudioFile } from './audio/wav.js';
export { openAudio } from './audio/audio-source.js';
export type { AudioInput, OpenAudioOptions, InputFormat } from './audio/audio-source.js';
export type { DecodedAudio } from './audio/wav.js';
export { transcriber } from './stream/transcriber.js';
export type { Transcriber, TranscriberOptions } from './stream/transcriber.js';
export type { Segment } from './stream/utf8-carry.js';
export type { Chunking } from './stream/chunk-buffer.js';
export type { AlignAttOptions, AlignAttUpdate, StopReason, TimedWord } from './decode/align-att.js';
export type { EmittedUpdate } from './stream/align-att-decoder.js';
export { transcribeOffline } from './decode/offline.js';
export type { OfflineOptions, OfflineResult, OfflineWindow } from './decode/offline.js';
export { SileroVad } from './vad/silero-vad.js';
export type { VadIteratorOptions } from './vad/vad-iterator.js';
export { createServer } from './server/server.js';
export type { ServerOptions, SimulstreamServer, ClientInfo } from './server/server.js';
export type { ServerObserver } from './server/observer.js';
export type { OutputFormat } from './stream/line-encoder.js';
export { createLogger } from './server/logger.js';
export type { Logger, LogLevel, LogContext } from './server/logger.js';
export { createBridge } from './bridge/bridge.js';
export type { Bridge, BridgeOptions } from './bridge/bridge.js';
export type { BridgeObserver } from './bridge/observer.js';
export { evaluate } from './eval/evaluate.js';
export type { EvalOptions, EvalReport, EvalMode, FileResult } from './eval/evaluate.js';
export type { ManifestEntry } from './eval/manifest.js';
