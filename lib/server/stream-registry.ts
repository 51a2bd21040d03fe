import type { FanOut } from '../util/fan-out.js';
import type { Connection } from './connection.js';
import type { Logger } from './logger.js';
import type { ServerObserver, StreamProtocol } from './observer.js';

/** Why a stream was not taken. */
export type RefusalReason = 'capacity' | 'closing';

/** A place held for one stream while its front door sets it up (a WebSocket handshake, say). */
export interface Reservation {
  /** The stream is open: it counts until its `done` settles. */
  attach(stream: Connection): void;
  /** The set-up failed before the stream opened: the place is free again. */
  release(): void;
}

export interface StreamRegistryOptions {
  /** `--max-connections`: open streams of every front door together. */
  readonly maxConnections: number;
  readonly log: Logger;
  readonly observe: FanOut<ServerObserver>;
}

/**
 * What every front door of one server shares: the capacity (`--max-connections` counts each TCP
 * client and each call of every protocol), the refusals (logged once per busy spell), the
 * observers' accepted events, and the drain at shutdown.
 */
export class StreamRegistry {
  private readonly streams = new Set<Connection>();
  private reserved = 0;
  private readonly refusals: RefusalLog;
  /** True from {@link StreamRegistry.close} on: every new stream is refused. */
  closing = false;

  constructor(private readonly opts: StreamRegistryOptions) {
    this.refusals = new RefusalLog(opts.log, opts.maxConnections);
  }

  /** Streams open now (places held for set-ups excluded). */
  get open(): number {
    return this.streams.size;
  }

  get maxConnections(): number {
    return this.opts.maxConnections;
  }

  /**
   * A place for one more stream, or why there is none: the refusal is logged (once per busy
   * spell) and told to the observers; the front door answers the client in its own protocol.
   */
  reserve(peer: string, protocol: StreamProtocol): Reservation | RefusalReason {
    const reason: RefusalReason | null = this.closing ? 'closing' : this.streams.size + this.reserved >= this.opts.maxConnections ? 'capacity' : null;
    if (reason) {
      this.refusals.refused(peer, reason);
      this.opts.observe('connectionRefused', peer, reason, protocol);
      return reason;
    }
    this.reserved++;
    let held = true;
    const free = (): void => {
      if (!held) return;
      held = false;
      this.reserved--;
    };
    return {
      attach: (stream) => {
        free();
        this.streams.add(stream);
        this.opts.observe('connectionAccepted', peer, protocol);
        void stream.done.then(() => {
          this.streams.delete(stream);
          this.refusals.freed(this.streams.size + this.reserved);
        });
      },
      release: () => {
        free();
        this.refusals.freed(this.streams.size + this.reserved);
      },
    };
  }

  /**
   * Refuses new streams from now on, lets the open ones go on until they end or `drainTimeout`
   * seconds pass, then finishes the rest (final pass, last lines) and waits for them.
   */
  async close(drainTimeout: number): Promise<void> {
    this.closing = true;
    const all = (): Promise<void> => Promise.all([...this.streams].map((c) => c.done)).then(() => undefined);
    if (drainTimeout > 0 && this.streams.size > 0) {
      this.opts.log.info(`Draining ${this.streams.size} open stream(s) for up to ${drainTimeout} s`);
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((r) => (timer = setTimeout(r, drainTimeout * 1000)));
      await Promise.race([all(), expired]);
      clearTimeout(timer);
    }
    for (const c of this.streams) c.finish();
    await all();
  }
}

/** Refusals are logged once per busy spell, then counted; the count is logged when a place frees. */
class RefusalLog {
  private busy = false;
  private count = 0;

  constructor(
    private readonly log: Logger,
    private readonly max: number,
  ) {}

  refused(peer: string, reason: RefusalReason): void {
    if (this.busy) {
      this.count++;
      return;
    }
    this.busy = true;
    this.log.warning(`Refusing client on ${peer}: ${reason === 'closing' ? 'shutting down' : `--max-connections ${this.max} reached`} (further refusals are counted)`);
  }

  freed(open: number): void {
    if (!this.busy || open >= this.max) return;
    if (this.count > 0) this.log.warning(`Refused ${this.count} more client(s) while at capacity`);
    this.busy = false;
    this.count = 0;
  }
}
