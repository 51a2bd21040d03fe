/**
 * Every error simulstream throws is a {@link SimulstreamError} with a stable `code`.
 * Callers branch on `err.code`, never on the message.
 */

/** Every error code, with its default message. */
export const ErrorCodes = {
  /** The checkpoint file ends before its declared contents. */
  ERR_CHECKPOINT_TRUNCATED: 'the checkpoint file ends before its declared contents',
  /** The file is not a Whisper checkpoint. */
  ERR_CHECKPOINT_FORMAT: 'the file is not a Whisper checkpoint',
  /** The checkpoint holds a tensor type simulstream cannot read. */
  ERR_CHECKPOINT_TENSOR_TYPE: 'the checkpoint holds a tensor type simulstream cannot read',
  /** A tensor of the checkpoint has an unexpected shape. */
  ERR_CHECKPOINT_TENSOR_SHAPE: 'a tensor of the checkpoint has an unexpected shape',
  /** A tensor the model needs is missing from the checkpoint. */
  ERR_CHECKPOINT_MISSING_TENSOR: 'a tensor the model needs is missing from the checkpoint',
  /** An option has an invalid value. */
  ERR_INVALID_OPTION: 'an option has an invalid value',
  /** The audio stream starts with a WAV header, but raw PCM was expected. */
  ERR_WAV_HEADER: 'the audio stream starts with a WAV header, but raw PCM was expected',
  /** The audio file cannot be read. */
  ERR_AUDIO_FORMAT: 'the audio file cannot be read',
  /** The language is not one the model knows. */
  ERR_UNKNOWN_LANGUAGE: 'the language is not one the model knows',
  /** The model is not available. */
  ERR_MODEL_NOT_FOUND: 'the model is not available',
  /** The model download failed. */
  ERR_DOWNLOAD: 'the model download failed',
  /** The downloaded file does not match its checksum. */
  ERR_CHECKSUM: 'the downloaded file does not match its checksum',
  /** ONNX Runtime failed. */
  ERR_ONNX_RUNTIME: 'ONNX Runtime failed',
  /** No vocabulary is available for this model. */
  ERR_VOCABULARY: 'no vocabulary is available for this model',
  /** The server address is already in use. */
  ERR_ADDRESS_IN_USE: 'the server address is already in use',
  /** The warm-up file is not available. */
  ERR_WARMUP_FILE: 'the warm-up file is not available',
  /** FreeSWITCH's event socket cannot be reached. */
  ERR_ESL_CONNECT: 'FreeSWITCH\'s event socket cannot be reached',
  /** FreeSWITCH's event socket refused the login. */
  ERR_ESL_AUTH: 'FreeSWITCH\'s event socket refused the login',
  /** A FreeSWITCH command failed. */
  ERR_ESL_COMMAND: 'a FreeSWITCH command failed',
  /** The recognizer cannot be reached. */
  ERR_RECOGNIZER: 'the recognizer cannot be reached',
  /** The server is at its connection limit or shutting down. */
  ERR_SERVER_BUSY: 'the server is at its connection limit or shutting down',
  /** The client disconnected in the middle of its stream. */
  ERR_CLIENT_GONE: 'the client disconnected in the middle of its stream',
  /** The client did not read its output. */
  ERR_OUTPUT_STALLED: 'the client did not read its output',
  /** A call could not be transcribed. */
  ERR_CALL_NOT_TRANSCRIBED: 'a call could not be transcribed',
  /** The server cannot listen on its address. */
  ERR_LISTEN: 'the server cannot listen on its address',
  /** A method was called when the stream cannot take it. */
  ERR_INVALID_STATE: 'a method was called when the stream cannot take it',
  /** A WebSocket frame is larger than the server accepts (1 MiB). */
  ERR_WS_FRAME_TOO_LARGE: 'a WebSocket frame is larger than the server accepts (1 MiB)',
  /** A call's client broke its protocol (an AudioSocket message, a jambonz message out of order). */
  ERR_STREAM_PROTOCOL: 'a call\'s client broke its protocol (an AudioSocket message, a jambonz message out of order)',
  /** A call's line could not be written to the transcript store. */
  ERR_TRANSCRIPT_STORE: 'a call\'s line could not be written to the transcript store',
  /** The worker thread running the stream stopped (it crashed, or could not load the model). */
  ERR_WORKER: 'the worker thread running the stream stopped',
  /** An internal error (a bug): the message says where. */
  ERR_INTERNAL: 'an internal error (a bug): the message says where',
  /** The audio input cannot be opened or read (a missing file, a read error, stdin a terminal). */
  ERR_AUDIO_INPUT: 'the audio input cannot be opened or read',
  /** The audio input holds no samples (an empty file or stream). */
  ERR_AUDIO_EMPTY: 'the audio input holds no samples',
  /** A compressed or non-WAV audio format needs ffmpeg, which is not on the PATH or cannot be run. */
  ERR_FFMPEG_MISSING: 'this audio format needs ffmpeg, which is not on the PATH',
  /** ffmpeg ran but could not decode the audio (the message holds its last error line). */
  ERR_FFMPEG: 'ffmpeg could not decode the audio',
} as const;

/** A stable error code: a key of {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/** The base class of every error simulstream throws; branch on its {@link SimulstreamError.code}. */
export class SimulstreamError extends Error {
  /** The stable code (never the message) to branch on. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code], options);
    this.code = code;
    this.name = 'SimulstreamError';
  }
}

/** A checkpoint could not be read; the message names the file and what is wrong. */
export class CheckpointError extends SimulstreamError {
  /** The checkpoint file. */
  readonly file: string;
  constructor(code: ErrorCode, file: string, detail: string, options?: { cause?: unknown }) {
    super(code, `${file}: ${detail}`, options);
    this.file = file;
    this.name = 'CheckpointError';
  }
}

/** An option has a bad value; the message names the option and what is allowed. */
export class InvalidOptionError extends SimulstreamError {
  /** The option (its CLI flag, or its key). */
  readonly option: string;
  constructor(option: string, detail: string) {
    super('ERR_INVALID_OPTION', `${option}: ${detail}`);
    this.option = option;
    this.name = 'InvalidOptionError';
  }
}

/** A broken internal invariant (a bug in simulstream, never the caller's input): `ERR_INTERNAL`. */
export class InternalError extends SimulstreamError {
  constructor(detail: string) {
    super('ERR_INTERNAL', `internal error: ${detail}`);
    this.name = 'InternalError';
  }
}

/**
 * A command could not start with the options and model it was given (checked before it accepts any
 * work); `code` is the underlying error's. The CLI exits with code 2 on it.
 */
export class StartupError extends SimulstreamError {
  constructor(cause: SimulstreamError) {
    super(cause.code, cause.message, { cause });
    this.name = 'StartupError';
  }
}

/** An error as it goes on the wire, into logs and to observers: its stable code and its message. */
export interface ErrorInfo {
  /** An {@link ErrorCode}, or `ERR_INTERNAL` for an error that is not simulstream's. */
  readonly code: string;
  /** What happened, for a person. */
  readonly message: string;
}

/** Any thrown value as an {@link ErrorInfo}: a simulstream error keeps its code, anything else is `ERR_INTERNAL`. */
export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof SimulstreamError) return { code: err.code, message: err.message };
  return { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
