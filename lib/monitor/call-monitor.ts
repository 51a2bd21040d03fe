import fs from 'node:fs';
import type { BridgeObserver } from '../bridge/observer.js';
import { TranscriptStore, type StoredLine } from '../bridge/transcript-store.js';
import type { HttpHandler } from '../http/http-server.js';
import type { CallTranscript, MonitorLine } from './call-events.js';
import { DayCalls, parseStoredLines, type FinishedCalls } from './day-calls.js';
import { EventHub, type EventHubOptions } from './event-hub.js';
import { LiveCalls, type CallStart } from './live-calls.js';
import { monitorRoutes } from './monitor-routes.js';
import { PageAssets } from './page-assets.js';
import { RecentCalls } from './recent-calls.js';

export interface CallMonitorOptions extends EventHubOptions {
  /**
   * The bridge's `--out-dir` (the transcript store): the day's finished calls and their
   * transcripts are read from it. Without it (`serve`), the last `maxEndedChannels` finished calls
   * are kept in memory, each with its last `maxHistory` lines.
   */
  readonly outDir?: string;
  /** Today, for the day's list (tests). */
  readonly clock?: () => Date;
  /** Most finished calls one search returns. Default 200. */
  readonly maxResults?: number;
}

/** The live page: fed with calls and lines (by the bridge's hooks, or a server observer), served by `handler`. */
export interface CallMonitor {
  callStarted(call: CallStart): void;
  /** A line of a call; `is_final` when the recognizer says its utterance ended; `lagSeconds` when measured by the caller. */
  line(line: StoredLine & { readonly is_final?: boolean }, lagSeconds?: number): void;
  callEnded(uuid: string): void;
  /** `createBridge({ observers: [monitor.bridgeObserver] })`. */
  readonly bridgeObserver: BridgeObserver;
  /** The page's routes, for `createHttpServer({handlers})`. */
  readonly handler: HttpHandler;
  /** Ends every open event stream. */
  close(): void;
}

const CALLS = 'calls';
const callChannel = (uuid: string): string => `call:${uuid}`;

/** Ties the live-call list, the event streams, the finished calls and the page's routes together. */
export function createCallMonitor(opts: CallMonitorOptions = {}): CallMonitor {
  const live = new LiveCalls();
  const hub = new EventHub(opts);
  const store = opts.outDir !== undefined ? new TranscriptStore(opts.outDir) : undefined;
  const recent = store ? undefined : new RecentCalls(opts.maxEndedChannels ?? 100, opts.clock);
  const finished: FinishedCalls =
    recent ?? new DayCalls({ dir: opts.outDir!, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.maxResults ? { maxResults: opts.maxResults } : {}) });
  hub.open(CALLS, () => ({ event: 'snapshot', data: { now: new Date().toISOString(), calls: live.list() } }));

  /** A call's lines as its event stream kept them (bounded by `maxHistory`). */
  const keptLines = (uuid: string): MonitorLine[] =>
    hub
      .history(callChannel(uuid))
      .filter((e) => e.event === 'line')
      .map((e) => JSON.parse(e.data) as MonitorLine);

  async function transcript(uuid: string): Promise<CallTranscript | null> {
    const now = live.get(uuid);
    if (!store) {
      const before = recent && (await recent.list('', new Set())).calls.find((c) => c.uuid === uuid);
      const who = now ?? before;
      if (!who) return null;
      return { uuid, caller: who.caller, callee: who.callee, live: now !== undefined, lines: keptLines(uuid).map((l) => (now ? l : { ...l, final: true })) };
    }
    const text = await fs.promises.readFile(store.fileFor(uuid), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    const lines = parseStoredLines(text).filter((l) => l.call_uuid === uuid);
    if (!now && lines.length === 0) return null;
    return {
      uuid,
      caller: now?.caller ?? lines[0]!.caller,
      callee: now?.callee ?? lines[0]!.callee,
      live: now !== undefined,
      lines: lines.map((l) => toMonitorLine(l, now === undefined || (l as { is_final?: boolean }).is_final === true)),
    };
  }

  const monitor: CallMonitor = {
    callStarted(c) {
      if (live.get(c.uuid)) return; // its first line came first
      const call = live.start(c);
      hub.open(callChannel(c.uuid));
      hub.publish(callChannel(c.uuid), 'start', call);
      hub.publish(CALLS, 'start', call);
    },
    line(l, lagSeconds) {
      if (!live.get(l.call_uuid)) monitor.callStarted({ uuid: l.call_uuid, caller: l.caller, callee: l.callee, legs: [l.leg], startedAt: new Date(l.call_started_at) });
      const call = live.line(l, lagSeconds);
      hub.publish(callChannel(l.call_uuid), 'line', toMonitorLine(l, l.is_final === true));
      hub.publish(CALLS, 'update', call);
    },
    callEnded(uuid) {
      const call = live.end(uuid);
      if (!call) return;
      recent?.add(call, keptLines(uuid));
      hub.publish(callChannel(uuid), 'end', { uuid });
      hub.end(callChannel(uuid));
      hub.publish(CALLS, 'end', { uuid });
    },
    bridgeObserver: {
      callStarted: (c) => monitor.callStarted({ ...c.call, legs: c.legNames, startedAt: c.started }),
      lineStored: (l) => monitor.line(l),
      callEnded: (c) => monitor.callEnded(c.call.uuid),
    },
    handler: monitorRoutes({ assets: new PageAssets(), hub, live, finished, transcript, channels: { calls: CALLS, call: callChannel } }),
    close: () => hub.close(),
  };
  return monitor;
}

function toMonitorLine(l: StoredLine, final: boolean): MonitorLine {
  return { leg: l.leg, start_ms: l.start_ms, end_ms: l.end_ms, text: l.text, received_at: l.received_at, final };
}
