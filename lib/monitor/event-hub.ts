import type { IncomingMessage, ServerResponse } from 'node:http';

/** One Server-Sent Event as kept for replay: `data` is one line of JSON. */
export interface HubEvent {
  readonly id: number;
  readonly event: string;
  readonly data: string;
}

export interface EventHubOptions {
  /** Events kept per channel for replay after a reconnect (older ones are dropped). Default 2000. */
  readonly maxHistory?: number;
  /** Event streams open at once; one more gets 503. Default 64. */
  readonly maxClients?: number;
  /**
   * Bytes a client may leave unread in its socket's buffer; a client that falls further behind
   * (a browser tab that stopped reading) is disconnected. Default 1 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Ended channels kept (for a browser reconnecting after the end), oldest dropped first. Default 100. */
  readonly maxEndedChannels?: number;
  /** A comment line this often keeps proxies from closing an idle stream. Default 15 000 ms. */
  readonly heartbeatMs?: number;
  /** The reconnection delay the browser is told to use. Default 2000 ms. */
  readonly retryMs?: number;
}

/** What a channel sends to a new client instead of its history (e.g. the current list of calls). */
export type Snapshot = () => { readonly event: string; readonly data: unknown };

interface Channel {
  readonly history: HubEvent[];
  /** The id of the newest event dropped from `history` (0: none). */
  trimmedThrough: number;
  ended: boolean;
  readonly snapshot: Snapshot | undefined;
}

interface Client {
  readonly res: ServerResponse;
  readonly channel: string;
  /** Bytes of the catch-up sent on connecting, allowed on top of the limit until they drain. */
  catchUp: number;
}

/**
 * Server-Sent Events by channel, with ids. Each channel keeps a bounded history, so a browser that
 * reconnects with `Last-Event-ID` gets exactly the events it missed; a new client gets the channel's
 * snapshot if it has one, else its whole history. Memory is bounded: history per channel, channels
 * that ended, clients, and bytes a client may leave unread.
 */
export class EventHub {
  private readonly channels = new Map<string, Channel>();
  private readonly clients = new Set<Client>();
  private readonly opts: Required<EventHubOptions>;
  private readonly heartbeat: NodeJS.Timeout;
  private seq = 0;

  constructor(options: EventHubOptions = {}) {
    this.opts = {
      maxHistory: options.maxHistory ?? 2000,
      maxClients: options.maxClients ?? 64,
      maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
      maxEndedChannels: options.maxEndedChannels ?? 100,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      retryMs: options.retryMs ?? 2000,
    };
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) this.write(c, ': ping\n\n');
    }, this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  /** The id of the newest event published. */
  get lastId(): number {
    return this.seq;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Opens a channel (again: keeps its history, and it is no longer ended). */
  open(channel: string, snapshot?: Snapshot): void {
    const c = this.channels.get(channel);
    if (c) {
      c.ended = false;
      return;
    }
    this.channels.set(channel, { history: [], trimmedThrough: 0, ended: false, snapshot });
  }

  /** Marks a channel ended: it stays for reconnecting clients until `maxEndedChannels` newer ones end. */
  end(channel: string): void {
    const c = this.channels.get(channel);
    if (!c || c.ended) return;
    c.ended = true;
    // re-insert so the map's order is the order channels ended in
    this.channels.delete(channel);
    this.channels.set(channel, c);
    const ended = [...this.channels].filter(([, ch]) => ch.ended);
    for (const [name] of ended.slice(0, Math.max(0, ended.length - this.opts.maxEndedChannels))) this.channels.delete(name);
  }

  /** Events of a channel kept for replay (oldest first). */
  history(channel: string): readonly HubEvent[] {
    return this.channels.get(channel)?.history ?? [];
  }

  /** Publishes an event to a channel's clients and history (opening the channel if needed); returns its id. */
  publish(channel: string, event: string, data: unknown): number {
    if (!this.channels.has(channel)) this.open(channel);
    const c = this.channels.get(channel)!;
    const e: HubEvent = { id: ++this.seq, event, data: JSON.stringify(data) };
    c.history.push(e);
    if (c.history.length > this.opts.maxHistory) c.trimmedThrough = c.history.splice(0, c.history.length - this.opts.maxHistory).at(-1)!.id;
    const wire = format(e);
    for (const client of this.clients) if (client.channel === channel) this.write(client, wire);
    return e.id;
  }

  /**
   * Answers an event-stream request for `channel`: 404 when there is no such channel, 503 when
   * `maxClients` streams are open. Resends what a reconnecting client missed (`Last-Event-ID`).
   */
  subscribe(req: IncomingMessage, res: ServerResponse, channel: string, headers: Readonly<Record<string, string>> = {}): void {
    const c = this.channels.get(channel);
    if (!c) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('no such event stream\n');
      return;
    }
    if (this.clients.size >= this.opts.maxClients) {
      res.writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' }).end('too many event streams\n');
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // nginx: do not buffer this response
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    const first = `retry: ${this.opts.retryMs}\n\n${this.catchUp(c, lastEventId(req))}`;
    const client: Client = { res, channel, catchUp: Buffer.byteLength(first) };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    res.once('drain', () => (client.catchUp = 0));
    this.write(client, first);
  }

  /** What a client gets on connecting, after its `Last-Event-ID` (undefined: a new client). */
  private catchUp(c: Channel, last: number | undefined): string {
    // an id from the future: this process restarted, the browser's ids mean nothing here
    const fresh = last === undefined || last > this.seq;
    if (!fresh && last >= c.trimmedThrough) return c.history.filter((e) => e.id > last).map(format).join('');
    if (c.snapshot) {
      const s = c.snapshot();
      return format({ id: this.seq, event: s.event, data: JSON.stringify(s.data) });
    }
    // a new client gets the whole history; one whose missed events were dropped starts over
    return (fresh ? '' : format({ id: c.trimmedThrough, event: 'reset', data: '{}' })) + c.history.map(format).join('');
  }

  private write(client: Client, text: string): void {
    if (!text || client.res.destroyed) return;
    client.res.write(text);
    if (client.res.writableLength > this.opts.maxBufferedBytes + client.catchUp) {
      this.clients.delete(client);
      client.res.destroy();
    }
  }

  /** Ends every stream and stops the heartbeat. */
  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}

function format(e: HubEvent): string {
  return `id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`;
}

/** `Last-Event-ID` (the header a browser's EventSource sends when it reconnects), or `?lastEventId=`. */
function lastEventId(req: IncomingMessage): number | undefined {
  const raw = req.headers['last-event-id'] ?? new URL(req.url ?? '/', 'http://localhost').searchParams.get('lastEventId') ?? undefined;
  const v = Array.isArray(raw) ? raw[0] : raw;
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}
