import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { SimulstreamError } from '../errors.js';
import { parseEvent, type EslEvent } from './esl-event.js';
import { EslParser, type EslMessage } from './esl-parser.js';

export interface EslClientOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8021. */
  readonly port?: number;
  /** Default ClueCon. */
  readonly password?: string;
  /** Events to subscribe to after each login (e.g. CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE). */
  readonly events?: readonly string[];
  /** `plain` (default) or `json`. */
  readonly format?: 'plain' | 'json';
  /** Reconnect when the socket drops (FreeSWITCH restarting). Default true. */
  readonly reconnect?: boolean;
  /** Backoff: first delay and cap, ms. Default 250 and 10 000. */
  readonly backoffMs?: readonly [number, number];
  /** Seconds to wait for a connection or a reply. Default 10. */
  readonly timeout?: number;
}

interface Waiter {
  readonly resolve: (m: EslMessage) => void;
  readonly reject: (e: Error) => void;
}

export interface EslClientEvents {
  event: [EslEvent];
  /** Logged in (first time and after each reconnection). */
  ready: [{ reconnected: boolean }];
  /** The socket dropped; a reconnection follows unless closed. */
  disconnected: [Error | undefined];
  /**
   * A reconnection (or, with `connect({ retry })`, a first connection) failed (`error.code`:
   * ERR_ESL_AUTH when the login was refused); the next try is in `delayMs`.
   */
  retry: [{ readonly error: SimulstreamError; readonly delayMs: number }];
  /** Something FreeSWITCH sent was skipped: it could not be parsed, or it was too large. */
  warning: [string];
}

/**
 * A small typed inbound Event Socket client: login, `api`, `bgapi` (results through
 * BACKGROUND_JOB), event subscription in plain or JSON form, `sendevent`, and reconnection with
 * backoff. Replies are matched to commands in order, as FreeSWITCH answers them.
 *
 * We wrote our own: the maintained npm clients either have no licence (esl-lite) or no types and a
 * callback API (modesl, drachtio-modesl), and the protocol is small (see `esl-parser.ts`).
 */
export class EslClient extends EventEmitter<EslClientEvents> {
  readonly host: string;
  readonly port: number;
  private readonly opts: EslClientOptions;
  private socket: net.Socket | null = null;
  private waiters: Waiter[] = [];
  private jobs = new Map<string, Waiter>();
  private closed = false;
  private loggedInOnce = false;
  private delay: number;
  /** Ends a start-up retry's wait (set while `connect({ retry })` waits). */
  private wake: (() => void) | null = null;

  constructor(opts: EslClientOptions = {}) {
    super();
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 8021;
    this.delay = opts.backoffMs?.[0] ?? 250;
  }

  /**
   * Connects and logs in; rejects on a wrong password (ERR_ESL_AUTH) or no server
   * (ERR_ESL_CONNECT). With `retry`, a FreeSWITCH that is not up yet (ERR_ESL_CONNECT: refused,
   * unreachable, closed during the login) is tried again with the reconnection backoff, each
   * failure told as a `retry` event, until it answers or the client is closed (then it rejects
   * with the last error); a refused login still rejects at once.
   */
  async connect(opts: { readonly retry?: boolean } = {}): Promise<void> {
    this.closed = false;
    let delay = this.opts.backoffMs?.[0] ?? 250;
    for (;;) {
      try {
        await this.open();
        return;
      } catch (err) {
        if (!opts.retry || this.closed || !(err instanceof SimulstreamError) || err.code !== 'ERR_ESL_CONNECT') throw err;
        this.emit('retry', { error: err, delayMs: delay });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.wake = null;
            resolve();
          }, delay);
          this.wake = () => {
            clearTimeout(timer);
            this.wake = null;
            resolve();
          };
        });
        if (this.closed) throw err;
        delay = Math.min(delay * 2, this.opts.backoffMs?.[1] ?? 10_000);
      }
    }
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      const parser = new EslParser({ onWarning: (m) => this.emit('warning', m) });
      let stage: 'auth' | 'login' | 'ready' = 'auth';
      const timer = setTimeout(() => socket.destroy(new Error('timed out')), (this.opts.timeout ?? 10) * 1000);
      const fail = (err: SimulstreamError): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.on('data', (b: Buffer) => {
        // nothing a peer sends may throw out of this handler (it would be an uncaught exception)
        try {
          onData(b);
        } catch (err) {
          this.emit('warning', `skipped what FreeSWITCH sent: ${(err as Error).message}`);
        }
      });
      const onData = (b: Buffer): void => {
        for (const msg of parser.push(b)) {
          const type = msg.headers['Content-Type'];
          if (stage === 'auth') {
            if (type === 'text/rude-rejection') return fail(new SimulstreamError('ERR_ESL_AUTH', `FreeSWITCH at ${this.host}:${this.port} refused us: ${msg.body.trim()} (check the event socket's ACL)`));
            if (type === 'auth/request') {
              stage = 'login';
              socket.write(`auth ${this.opts.password ?? 'ClueCon'}\n\n`);
            }
          } else if (stage === 'login') {
            if (type !== 'command/reply') continue;
            if (!(msg.headers['Reply-Text'] ?? '').startsWith('+OK')) {
              return fail(new SimulstreamError('ERR_ESL_AUTH', `FreeSWITCH at ${this.host}:${this.port} rejected the password (${msg.headers['Reply-Text'] ?? 'no reply'})`));
            }
            stage = 'ready';
            clearTimeout(timer);
            this.socket = socket;
            this.delay = this.opts.backoffMs?.[0] ?? 250;
            this.subscribe()
              .then(() => {
                const reconnected = this.loggedInOnce;
                this.loggedInOnce = true;
                resolve();
                this.emit('ready', { reconnected });
              })
              .catch((e: Error) => fail(new SimulstreamError('ERR_ESL_CONNECT', e.message)));
          } else this.dispatch(msg);
        }
      };
      socket.on('error', (err) => {
        if (stage !== 'ready') fail(new SimulstreamError('ERR_ESL_CONNECT', `cannot reach FreeSWITCH's event socket at ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (stage !== 'ready') {
          // closed before the login finished (no-op when already failed)
          reject(new SimulstreamError('ERR_ESL_CONNECT', `FreeSWITCH's event socket at ${this.host}:${this.port} closed during the login`));
          return;
        }
        this.socket = null;
        const err = new Error('the event socket closed');
        for (const w of [...this.waiters, ...this.jobs.values()]) w.reject(err);
        this.waiters = [];
        this.jobs.clear();
        this.emit('disconnected', undefined);
        if (!this.closed && this.opts.reconnect !== false) this.scheduleReconnect();
      });
    });
  }

  private scheduleReconnect(): void {
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.backoffMs?.[1] ?? 10_000);
    setTimeout(() => {
      if (this.closed) return;
      this.open().catch((err: unknown) => {
        if (this.closed) return;
        const error = err instanceof SimulstreamError ? err : new SimulstreamError('ERR_ESL_CONNECT', String(err));
        this.emit('retry', { error, delayMs: this.delay });
        this.scheduleReconnect();
      });
    }, wait).unref();
  }

  private async subscribe(): Promise<void> {
    const names = [...(this.opts.events ?? [])];
    if (!names.includes('BACKGROUND_JOB')) names.push('BACKGROUND_JOB');
    const reply = await this.command(`event ${this.opts.format ?? 'plain'} ${names.join(' ')}`);
    if (!(reply.headers['Reply-Text'] ?? '').startsWith('+OK')) throw new SimulstreamError('ERR_ESL_COMMAND', `event subscription refused: ${reply.headers['Reply-Text']}`);
  }

  private dispatch(msg: EslMessage): void {
    const type = msg.headers['Content-Type'];
    if (type === 'command/reply' || type === 'api/response') {
      this.waiters.shift()?.resolve(msg);
      return;
    }
    if (type === 'text/disconnect-notice') return; // the close follows
    const event = parseEvent(msg, (m) => this.emit('warning', m));
    if (!event) return;
    if (event.name === 'BACKGROUND_JOB') {
      const id = event.headers['Job-UUID'] ?? '';
      const job = this.jobs.get(id);
      if (job) {
        this.jobs.delete(id);
        job.resolve({ headers: event.headers, body: event.body });
      }
    }
    this.emit('event', event);
  }

  /** Sends one command (with optional headers) and waits for its reply. */
  command(line: string, headers: Record<string, string> = {}, body = ''): Promise<EslMessage> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new SimulstreamError('ERR_ESL_CONNECT', 'not connected to FreeSWITCH'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\n`).join('');
      const content = body ? `Content-Length: ${Buffer.byteLength(body)}\n` : '';
      socket.write(`${line}\n${extra}${content}\n${body}`);
    });
  }

  /** `api CMD`: the command's output. */
  async api(cmd: string): Promise<string> {
    return (await this.command(`api ${cmd}`)).body;
  }

  /** `api CMD` for a command that must succeed: a `-ERR` reply is `ERR_ESL_COMMAND`. */
  async apiOrFail(cmd: string): Promise<string> {
    const reply = await this.api(cmd);
    if (reply.startsWith('-ERR')) throw new SimulstreamError('ERR_ESL_COMMAND', `${cmd}: ${reply.trim()}`);
    return reply;
  }

  /** `bgapi CMD`: the output, from its BACKGROUND_JOB event. */
  async bgapi(cmd: string): Promise<string> {
    const id = crypto.randomUUID();
    const result = new Promise<EslMessage>((resolve, reject) => this.jobs.set(id, { resolve, reject }));
    const reply = await this.command(`bgapi ${cmd}`, { 'Job-UUID': id });
    if (!(reply.headers['Reply-Text'] ?? '').startsWith('+OK')) {
      this.jobs.delete(id);
      throw new SimulstreamError('ERR_ESL_COMMAND', `bgapi ${cmd}: ${reply.headers['Reply-Text']}`);
    }
    return (await result).body;
  }

  /** `sendevent NAME` with headers and a body (e.g. CUSTOM, Event-Subclass asr::transcript). */
  async sendEvent(name: string, headers: Record<string, string>, body = ''): Promise<void> {
    const reply = await this.command(`sendevent ${name}`, headers, body);
    if (!(reply.headers['Reply-Text'] ?? '').startsWith('+OK')) throw new SimulstreamError('ERR_ESL_COMMAND', `sendevent ${name}: ${reply.headers['Reply-Text']}`);
  }

  /** Whether a login ever succeeded (then failures are reconnections). */
  get connectedOnce(): boolean {
    return this.loggedInOnce;
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  /** Logs out and stops reconnecting. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const s = this.socket;
    if (!s) return;
    await new Promise<void>((r) => {
      s.once('close', () => r());
      s.end('exit\n\n');
      setTimeout(() => s.destroy(), 1000).unref();
    });
  }
}
