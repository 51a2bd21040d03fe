import type { ServerObserver } from '../server/observer.js';
import type { CallMonitor } from './call-monitor.js';

/**
 * Feeds the live page from `simulstream serve`: each client stream is a "call" (`stream-N`, its
 * caller the client's address, no callee), each segment a line with the server's measured lag, and
 * `final` when a final pass produced it (the end of the stream, or of an utterance with `--vac`).
 */
export function serverStreamsObserver(monitor: CallMonitor): ServerObserver {
  const open = new Map<string, { readonly id: string; readonly address: string; readonly startedAt: Date }>();
  let n = 0;
  return {
    connectionAccepted(peer) {
      const s = { id: `stream-${++n}`, address: peerAddress(peer), startedAt: new Date() };
      open.set(peer, s);
      monitor.callStarted({ uuid: s.id, caller: s.address, callee: '', legs: ['mixed'], startedAt: s.startedAt });
    },
    segment(peer, seg, lagSeconds) {
      const s = open.get(peer);
      if (!s) return;
      monitor.line(
        {
          call_uuid: s.id,
          leg: 'mixed',
          caller: s.address,
          callee: '',
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
