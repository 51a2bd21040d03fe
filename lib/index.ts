/**
 * simulstream: simultaneous Whisper transcription on ONNX Runtime.
 *
 * ```ts
 * import { loadModel, transcribeOffline, readAudioFile } from 'simulstream';
 * const model = await loadModel({ modelPath: './small.pt' });
 * const { text } = await transcribeOffline(model, readAudioFile('call.wav').samples, { language: 'fr' });
 * ```
 * One loaded model is shared by any number of concurrent transcriptions.
 */
export { ErrorCodes, SimulstreamError, CheckpointError, InvalidOptionError } from './errors.js';
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
