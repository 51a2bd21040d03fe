import type { AlignAttUpdate } from '../decode/align-att.js';
import type { Segment } from '../stream/utf8-carry.js';

/**
 * What the server tells whoever watches it (metrics, monitoring pages, benchmarks). Every method is
 * optional; an observer that throws is logged and otherwise ignored: it never breaks a stream.
 * `peer` is the client as the log lines print it: `('127.0.0.1', 54321)`.
 */
export interface ServerObserver {
  /** A client was accepted and its stream opened. */
  connectionAccepted?(peer: string): void;
  /** A client was refused (`--max-connections` reached, or shutting down). */
  connectionRefused?(peer: string, reason: 'capacity' | 'closing'): void;
  /** Bytes of audio a client sent (s16le: 32000 a second). */
  audioReceived?(peer: string, bytes: number): void;
  /** One policy iteration ran for this client; `queueMs` is how long it waited for a slot. */
  iteration?(peer: string, update: AlignAttUpdate, queueMs: number): void;
  /** A segment was sent; `lagSeconds` is the emission lag of its last word (bench:server's definition). */
  segment?(peer: string, segment: Segment, lagSeconds: number): void;
  /** The client's stream ended: `error` is set when it ended on an error (its stable code). */
  streamClosed?(peer: string, error?: { readonly code: string; readonly message: string }): void;
}
