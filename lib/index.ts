/**
 * simulstream: simultaneous Whisper transcription on ONNX Runtime.
 *
 * ```ts
 * import { loadModel, transcribeOffline, readAudioFile } from 'simulstream';
 * const model = await loadModel({ modelPath: './small.pt' });
 * const { text } = await transcribeOffline(model, readAudioFile('call.wav').samples, { language: 'fr' });
 * ```
 * Streaming (AlignAtt):
 *
 * ```ts
 * fs.createReadStream("call.raw").pipe(transcriber({ model, language: "fr" })).pipe(process.stdout);
 * ```
 * One loaded model is shared by any number of concurrent transcriptions.
 */
export { ErrorCodes, SimulstreamError, CheckpointError, InvalidOptionError, StartupError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { loadModel, defaultModelsDir } from './model/load-model.js';
export type { LoadModelOptions, LoadedModel } from './model/load-model.js';
export { openCheckpoint } from './model/load-checkpoint.js';
export type { Checkpoint, TensorInfo, StoredType } from './model/checkpoint.js';
export { randomCheckpoint } from './model/random-checkpoint.js';
export { compileCheckpoint } from './model/compile.js';
export type { CompiledModel, CompileOptions } from './model/compile.js';
export { WhisperModel } from './model/whisper-model.js';
export type { Device, EncodedAudio, KvCache, DecodeStepInput, DecodeStepOutput, SessionOptions } from './model/whisper-model.js';
export { OFFICIAL_DIMS } from './model/dims.js';
export type { WhisperDims } from './model/dims.js';
export { OFFICIAL_ALIGNMENT_HEADS, parseAlignmentHeads, defaultAlignmentHeads } from './model/alignment-heads.js';
export type { AlignmentHead } from './model/whisper-graphs.js';
export { LogMel, SAMPLE_RATE, N_SAMPLES, N_FRAMES } from './audio/mel.js';
export { readAudioFile, decodeWav, s16leToFloat } from './audio/wav.js';
export type { DecodedAudio } from './audio/wav.js';
export { Tokenizer } from './text/tokenizer.js';
export { LANGUAGES } from './text/languages.js';
export { transcribeOffline } from './decode/offline.js';
export type { OfflineOptions, OfflineResult, OfflineWindow } from './decode/offline.js';
export { detectLanguage } from './decode/language.js';
export type { LanguageDetection } from './decode/language.js';
export { transcriber } from './stream/transcriber.js';
export { LineEncoder } from './stream/line-encoder.js';
export type { LineEncoderOptions, StreamFailure } from './stream/line-encoder.js';
export type { Transcriber, TranscriberOptions } from './stream/transcriber.js';
export { PcmValidator, EXPECTED_PCM } from './stream/pcm-validator.js';
export { ChunkBuffer } from './stream/chunk-buffer.js';
export type { AudioChunk } from './stream/chunk-buffer.js';
export { AlignAttDecoder } from './stream/align-att-decoder.js';
export type { AlignAttDecoderOptions } from './stream/align-att-decoder.js';
export { SegmentFormatter } from './stream/segment-formatter.js';
export type { RawSegment } from './stream/segment-formatter.js';
export { Utf8Carry } from './stream/utf8-carry.js';
export type { Segment } from './stream/utf8-carry.js';
export { formatLine } from './stream/line-format.js';
export { VoiceActivityGate } from './stream/voice-activity-gate.js';
export type { VoiceActivityGateOptions } from './stream/voice-activity-gate.js';
export { SileroVad, VadStream, VAD_WINDOW, sileroModelPath } from './vad/silero-vad.js';
export { VadIterator } from './vad/vad-iterator.js';
export type { VadIteratorOptions, VadEvent } from './vad/vad-iterator.js';
export { streamPcm, floatToS16le } from './stream/run-transcriber.js';
export type { StreamRunOptions } from './stream/run-transcriber.js';
export { AlignAttSession } from './decode/align-att.js';
export type { AlignAttOptions, AlignAttUpdate, TimedWord, StopReason } from './decode/align-att.js';
export { StreamingLogMel } from './audio/streaming-mel.js';
export { evaluate } from './eval/evaluate.js';
export type { EvalOptions, EvalReport, EvalMode, FileResult } from './eval/evaluate.js';
export { readManifest } from './eval/manifest.js';
export type { ManifestEntry } from './eval/manifest.js';
export { werCounts, werPercent, wordErrors } from './eval/wer.js';
export { normalizeFrench, normalizeEnglish, normalizeFor } from './eval/normalize.js';
export { createServer } from './server/server.js';
export type { ServerOptions, SimulstreamServer } from './server/server.js';
export type { ServerObserver } from './server/observer.js';
export { Scheduler } from './server/scheduler.js';
export { createLogger, silentLogger, LOG_LEVELS } from './server/logger.js';
export type { Logger, LogLevel } from './server/logger.js';
export { encodeSegment, encodeError } from './server/line-protocol.js';
export type { OutputFormat } from './server/line-protocol.js';
export { wordLags, percentile, summarizeLags } from './eval/lag.js';
export type { LagSummary } from './eval/lag.js';
export { catalogModels, catalogModel, catalogFile } from './model/catalog.js';
export type { CatalogModel, CatalogFile, ModelFormat } from './model/catalog.js';
export { download, progressPrinter } from './model/download.js';
export type { Checksum, DownloadOptions, DownloadProgress } from './model/download.js';
export { pullModel, listModels, removeModel, cachedModelPath } from './model/model-cache.js';
export type { PullOptions, CachedModelInfo } from './model/model-cache.js';
export type { Precision } from './model/whisper-graphs.js';
export { quantizeColumns } from './model/compile.js';
export type { ClientInfo } from './server/server.js';
export { createBridge } from './bridge/bridge.js';
export type { Bridge, BridgeOptions } from './bridge/bridge.js';
export { CallTranscriber } from './bridge/call-transcriber.js';
export type { CallInfo, CallOptions } from './bridge/call-transcriber.js';
export { EslClient } from './bridge/esl-client.js';
export type { EslClientOptions, EslClientEvents } from './bridge/esl-client.js';
export { EslParser } from './bridge/esl-parser.js';
export type { EslMessage } from './bridge/esl-parser.js';
export { parseEvent, formatPlainEvent } from './bridge/esl-event.js';
export type { EslEvent } from './bridge/esl-event.js';
export { FileFollower } from './bridge/file-follower.js';
export { tcpRecognizer, embeddedRecognizer } from './bridge/recognizer.js';
export type { Recognizer } from './bridge/recognizer.js';
export { TranscriptLineParser, parseTranscriptLine } from './bridge/transcript-lines.js';
export type { TranscriptLine } from './bridge/transcript-lines.js';
export { TranscriptStore, readTranscript } from './bridge/transcript-store.js';
export type { StoredLine, Leg } from './bridge/transcript-store.js';
export { Upsample2x } from './bridge/upsample.js';
