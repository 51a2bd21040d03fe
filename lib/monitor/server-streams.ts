import type { Leg } from '../bridge/transcript-store.js';
import type { ServerObserver } from '../server/observer.js';
import type { CallMonitor } from './call-monitor.js';

interface OpenStream {
  readonly id: string;
  readonly caller: string;
  readonly callee: string;
  readonly startedAt: Date;
}

/**
 * Feeds the live page from `simulstream serve`. A TCP client's stream is a "call" (`stream-N`, its
 * caller the client's address, no callee); a switch's call (WebSocket, AudioSocket) is listed
 * under its own uuid with its caller and callee once its identity is known, its legs tagged. Each
 * segment is a line with the server's measured lag, and `final` when a final pass produced it
 * (the end of the stream, or of an utterance with `--vac`).
 */
export function serverStreamsObserver(monitor: CallMonitor): ServerObserver {
  const open = new Map<string, OpenStream>();
  let n = 0;
  return {
    connectionAccepted(peer, protocol) {
      if (protocol !== undefined && protocol !== 'tcp') return; // listed once identified
      const s = { id: `stream-${++n}`, caller: peerAddress(peer), callee: '', startedAt: new Date() };
      open.set(peer, s);
      monitor.callStarted({ uuid: s.id, caller: s.caller, callee: '', legs: ['mixed'], startedAt: s.startedAt });
    },
    callIdentified(peer, call) {
      const s = { id: call.uuid, caller: call.caller, callee: call.callee, startedAt: call.startedAt };
      open.set(peer, s);
      monitor.callStarted({ uuid: s.id, caller: s.caller, callee: s.callee, legs: call.legs.length > 0 ? call.legs : ['mixed'], startedAt: s.startedAt });
    },
    segment(peer, seg, lagSeconds, leg?: Leg) {
      const s = open.get(peer);
      if (!s) return;
      monitor.line(
        {
          call_uuid: s.id,
          leg: leg ?? 'mixed',
          caller: s.caller,
          callee: s.callee,
          start_ms: seg.startMs,
          end_ms: seg.endMs,
          text: seg.text,
          received_at: new Date().toISOString(),
          call_started_at: s.startedAt.toISOString(),
          is_final: seg.final,
        },
        Number.isFinite(lagSeconds) ? lagSeconds : undefined,
      );
    },
    streamClosed(peer) {
      const s = open.get(peer);
      open.delete(peer);
      if (s) monitor.callEnded(s.id);
    },
  };
}

/** `('127.0.0.1', 54321)` → `127.0.0.1:54321` (IPv6: `[::1]:54321`). */
export function peerAddress(peer: string): string {
  const m = /^\('(.*)', (\d+)\)$/.exec(peer);
  if (!m) return peer;
  return m[1]!.includes(':') ? `[${m[1]}]:${m[2]}` : `${m[1]}:${m[2]}`;
}
