/**
 * Every default of simulstream, in one table: the library fills missing options from it, the CLI
 * shows and uses the same values, and the docs point here. SimulStreaming's defaults where it has
 * the setting (its flags and fixed constants); ours where it does not.
 */
export const DEFAULTS = Object.freeze({
  // --- the AlignAtt policy (SimulStreaming's names and values) ---
  /** Language code, or `auto` (SimulStreaming's `--lan en`). */
  language: 'en',
  /** Transcribe (or translate into English). */
  task: 'transcribe' as 'transcribe' | 'translate',
  /** Beam size; 1 is greedy. */
  beams: 1,
  /** Seconds of audio per policy iteration (`--min-chunk-size`). */
  minChunkSize: 1.2,
  /** Stop when the newest token attends within this many 20 ms frames of the end (`--frame_threshold`). */
  frameThreshold: 25,
  /**
   * The frame threshold of the final pass (the end of a stream or, with voice activity control, of
   * an utterance), SimulStreaming's `finish()`. 0 decodes to the end of the text (on the toy model,
   * whose heads are only partly aligned, French streaming WER 34.1 % → 29.6 %); it is not the
   * default because the final pass cannot end at once (its first token may not be
   * `<|endoftext|>`), and a threshold of 0 keeps whatever a real model then says.
   */
  finalFrameThreshold: 4,
  /** A jump back of more than this many frames discards the iteration (fixed in SimulStreaming). */
  rewindThreshold: 200,
  /** Seconds of audio kept in the buffer (`--audio_max_len`): Whisper's window. */
  audioMaxLen: 30,
  /** Nothing is decoded while the buffer is shorter (`--audio_min_len`). */
  audioMinLen: 0,
  /** Hold back the last word of each iteration (`--never_fire`). */
  neverFire: false,
  /** The encoder's window: `full`, Whisper's 30 s (SimulStreaming's), or `auto`, fitted to the buffer (opt-in). */
  encoderWindow: 'full' as 'full' | 'auto',
  // --- our differences from SimulStreaming (each has its own option; `--compat simulstreaming` turns them off) ---
  /** Cut a decoding loop (an n-gram repeated ≥ 3 times over ≥ 12 tokens), keeping one copy. */
  repetitionGuard: true,
  /** Most committed tokens per second of buffered audio (0: no cap). */
  maxTokensPerSecond: 22.5,
  /** Never decode timestamp tokens. */
  suppressTimestamps: true,
  /** The end of a stream runs the final pass (SimulStreaming's server drops the tail). */
  finalPass: true,
  /** A real-time client that fell behind has its waiting chunks decoded as one iteration. */
  catchUp: true,
  // --- voice activity control (Silero's iterator and SimulStreaming's `--vac`) ---
  /** A 32 ms window is speech from this probability on. */
  vadThreshold: 0.5,
  /** Milliseconds below the end threshold (0.35) that end an utterance. */
  vadMinSilenceMs: 500,
  /** Milliseconds of padding around detected speech. */
  vadSpeechPadMs: 100,
  /** Seconds of audio kept before detected speech (SimulStreaming's VAC padding). */
  vadStartPadding: 0.5,
  /** SimulStreaming's `--vac-chunk-size` (accepted; the VAD looks at every 32 ms window). */
  vacChunkSize: 0.04,
  // --- the TCP server (SimulStreaming's `--host`/`--port`) ---
  /** The address the server listens on. */
  host: 'localhost',
  /** SimulStreaming's port. */
  port: 43007,
  /** Most simultaneous clients; more are refused. */
  maxConnections: 64,
  /** Seconds without data after which a client's stream is finished (0: never). */
  idleTimeout: 0,
  /** Seconds a client may leave its output unread before it is closed (0: never). */
  outputTimeout: 30,
  /** Seconds open streams may go on after SIGTERM before their final pass is forced. */
  drainTimeout: 30,
  /** Policy iterations that run at once. */
  parallelIterations: 1,
  // --- the switch's front doors (`--ws-port`, `--audiosocket-port`) ---
  /** Largest WebSocket frame accepted (bytes); a bigger one closes that call (code 1009). */
  wsMaxFrameBytes: 1 << 20,
  /** Sample rate of a WebSocket call's L16 audio when its URL does not say (`?rate=`). */
  wsRate: 16000,
  /** Channel layout of a WebSocket call when its URL does not say (`?mix=`). */
  wsMix: 'mono' as 'mono' | 'mixed' | 'stereo',
  /** The rate AudioSocket's message kind 0x11 carries (12 kHz since Asterisk PR 1492; one earlier revision used it for 16 kHz). */
  audioSocketKind11Rate: 12000 as 12000 | 16000,
} as const);

/** The table's type. */
export type Defaults = typeof DEFAULTS;
