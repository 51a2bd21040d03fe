import type { AlignAttUpdate } from '../decode/align-att.js';
import type { Leg } from '../bridge/transcript-store.js';
import type { Segment } from '../stream/utf8-carry.js';

/**
 * How a stream reached the server: SimulStreaming's TCP protocol, FreeSWITCH's mod_audio_stream
 * or mod_audio_fork, jambonz's custom speech-to-text API (WebSocket), or Asterisk's AudioSocket.
 */
export type StreamProtocol = 'tcp' | 'audio_stream' | 'audio_fork' | 'jambonz' | 'audiosocket';

/** Every protocol, in the order metrics list them. */
export const STREAM_PROTOCOLS = ['tcp', 'audio_stream', 'audio_fork', 'jambonz', 'audiosocket'] as const satisfies readonly StreamProtocol[];

/** Who a streamed call is, as its switch told (or as the server named it when it did not). */
export interface CallIdentity {
  /** The switch's call id (FreeSWITCH's `Unique-ID`, AudioSocket's UUID), else one generated. */
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
}

/** A call of a switch's front door, once its identity is fixed. */
export interface IdentifiedCall extends CallIdentity {
  readonly protocol: StreamProtocol;
  /** `caller` (mono), `mixed`, or `caller` and `callee` (stereo: left and right). */
  readonly legs: readonly Leg[];
  readonly startedAt: Date;
}

/**
 * What the server tells whoever watches it (metrics, monitoring pages, benchmarks). Every method is
 * optional; an observer that throws is logged and otherwise ignored: it never breaks a stream.
 * `peer` names the stream: the client as the log lines print it, `('127.0.0.1', 54321)`, prefixed
 * with the protocol for a switch's call (`audio_stream ('127.0.0.1', 54321)`).
 */
export interface ServerObserver {
  /** A client was accepted and its stream opened. */
  connectionAccepted?(peer: string, protocol: StreamProtocol): void;
  /** A client was refused (`--max-connections` reached, or shutting down). */
  connectionRefused?(peer: string, reason: 'capacity' | 'closing', protocol: StreamProtocol): void;
  /**
   * A switch's call has its identity (from its metadata, else generated at its first line or its
   * end); before its first segment. Never told for TCP clients.
   */
  callIdentified?(peer: string, call: IdentifiedCall): void;
  /** Bytes of audio a stream's transcriber took (s16le 16 kHz mono: 32000 a second; each leg of a stereo call counts). */
  audioReceived?(peer: string, bytes: number, protocol: StreamProtocol): void;
  /** One policy iteration ran for this client; `queueMs` is how long it waited for a slot. */
  iteration?(peer: string, update: AlignAttUpdate, queueMs: number, leg?: Leg): void;
  /** A segment was sent; `lagSeconds` is the emission lag of its last word (bench:server's definition). */
  segment?(peer: string, segment: Segment, lagSeconds: number, leg?: Leg): void;
  /** The client's stream ended: `error` is set when it ended on an error (its stable code). */
  streamClosed?(peer: string, error?: { readonly code: string; readonly message: string }): void;
}
