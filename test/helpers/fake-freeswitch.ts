// A FreeSWITCH event socket for the bridge's tests, written to ../shared/notes/freeswitch-esl.md:
// auth, api, bgapi (BACKGROUND_JOB), plain and JSON events, sendevent, exit and the disconnect
// notice; calls whose audio `uuid_record` writes to a .raw file in 20 ms frames at real-time pace
// (or in 64 KB bursts unless enable_file_write_buffering=false), at the codec's 8 kHz unless
// record_sample_rate says otherwise; and a restart (sockets closed, back after a pause).
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { formatPlainEvent } from '../../lib/bridge/esl-event.js';
import { parseHeaderBlock } from '../../lib/bridge/esl-parser.js';

export interface FakeCall {
  readonly uuid: string;
  readonly caller: string;
  readonly callee: string;
  readonly direction?: 'inbound' | 'outbound';
  /** What the caller says (s16le samples at `rate`). */
  readonly audio: Int16Array;
  /** What the callee says (default: silence). */
  readonly calleeAudio?: Int16Array;
  readonly rate: 8000 | 16000;
  /**
   * The call's audio starts once this many recordings have started (default 1), so that the
   * recordings of `--legs both` all begin at the audio's first sample whatever the commands' timing.
   */
  readonly legsRecorded?: number;
}

interface CallState extends FakeCall {
  vars: Map<string, string>;
  answered: boolean;
  /** performance.now() when the audio started (the first recording), or null. */
  audioStart: number | null;
  recordings: Recording[];
  hungUp: boolean;
  /** Seconds into the audio where the call's clock stands still (see `holdAt`), or null. */
  holdSeconds: number | null;
}

interface Recording {
  readonly path: string;
  readonly mode: 'mixed' | 'read' | 'write';
  readonly rate: number;
  readonly buffered: boolean;
  /** Samples (at `rate`) written so far. */
  written: number;
  pending: Buffer[];
  pendingBytes: number;
  stopped: boolean;
}

interface Conn {
  readonly socket: net.Socket;
  authed: boolean;
  format: 'plain' | 'json' | null;
  events: Set<string>;
}

export class FakeFreeswitch {
  readonly commands: string[] = [];
  readonly sentEvents: { headers: Record<string, string>; body: string }[] = [];
  readonly calls = new Map<string, CallState>();
  /** Whether `enable_file_write_buffering=false` is honoured (an old FreeSWITCH ignores it). */
  honourBufferingVar = true;
  /** Replies to `api` commands that override the fake's own (a FreeSWITCH in trouble). */
  readonly apiReplies = new Map<string, string>();
  /** Audio of calls placed with `originate`. */
  originateAudio: FakeCall['audio'] | null = null;
  private server: net.Server | null = null;
  private readonly conns = new Set<Conn>();
  private ticker: NodeJS.Timeout | null = null;
  port = 0;

  /** The event socket password (it may change across a restart). */
  constructor(public password = 'ClueCon') {}

  /** Raw bytes to every subscribed connection, as a broken or hostile peer would send them. */
  sendRaw(bytes: string | Buffer): void {
    for (const c of this.conns) if (c.authed && c.format) c.socket.write(bytes);
  }

  async start(port = 0): Promise<number> {
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    this.ticker ??= setInterval(() => this.tick(), 20);
    return this.port;
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const c of this.calls.values()) for (const r of c.recordings) this.stopRecording(c, r);
    await this.dropAll();
  }

  /** FreeSWITCH "restarts": every event socket is closed, the port refuses connections for `downMs`. */
  async restart(downMs: number): Promise<void> {
    await this.down();
    await new Promise((r) => setTimeout(r, downMs));
    await this.up();
  }

  /** FreeSWITCH goes away (its calls go on): every event socket is closed, the port refuses connections. */
  async down(): Promise<void> {
    await this.dropAll();
  }

  /** FreeSWITCH is back on its port after {@link down}. */
  async up(): Promise<void> {
    await this.start(this.port);
  }

  private async dropAll(): Promise<void> {
    for (const c of this.conns) {
      const body = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';
      c.socket.end(`Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
      c.socket.destroy();
    }
    this.conns.clear();
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  addCall(call: FakeCall): void {
    this.calls.set(call.uuid, { ...call, vars: new Map(), answered: false, audioStart: null, recordings: [], hungUp: false, holdSeconds: null });
  }

  /** Answers a call: CHANNEL_ANSWER to subscribers. Its audio starts with the first recording (or after 2 s). */
  answer(uuid: string): void {
    const c = this.calls.get(uuid)!;
    c.answered = true;
    this.broadcast(this.channelHeaders(c, 'CHANNEL_ANSWER'));
    setTimeout(() => (c.audioStart ??= performance.now()), 2000).unref();
  }

  /**
   * Stops the call's clock `seconds` into its audio: the recordings grow to that point and wait
   * there (the caller is still on the line) until the returned function lets the call go on.
   */
  holdAt(uuid: string, seconds: number): () => void {
    const c = this.calls.get(uuid)!;
    c.holdSeconds = seconds;
    return () => {
      if (c.audioStart !== null && this.elapsed(c) >= seconds) c.audioStart = performance.now() - seconds * 1000;
      c.holdSeconds = null;
    };
  }

  /** Seconds of the call's audio played so far (its clock stops at a hold). */
  private elapsed(c: CallState): number {
    const s = (performance.now() - c.audioStart!) / 1000;
    return c.holdSeconds === null ? s : Math.min(s, c.holdSeconds);
  }

  hangup(uuid: string): void {
    const c = this.calls.get(uuid);
    if (!c || c.hungUp) return;
    for (const r of c.recordings) this.stopRecording(c, r);
    c.hungUp = true;
    this.broadcast(this.channelHeaders(c, 'CHANNEL_HANGUP_COMPLETE'));
    this.calls.delete(uuid);
  }

  private channelHeaders(c: CallState, name: string): Record<string, string> {
    return {
      'Event-Name': name,
      'Core-UUID': 'fake-core',
      'Unique-ID': c.uuid,
      'Channel-Call-UUID': c.uuid,
      'Call-Direction': c.direction ?? 'inbound',
      'Answer-State': name === 'CHANNEL_ANSWER' ? 'answered' : 'hangup',
      'Caller-Caller-ID-Number': c.caller,
      'Caller-Destination-Number': c.callee,
    };
  }

  private accept(socket: net.Socket): void {
    const conn: Conn = { socket, authed: false, format: null, events: new Set() };
    this.conns.add(conn);
    socket.on('close', () => this.conns.delete(conn));
    socket.on('error', () => {});
    socket.write('Content-Type: auth/request\n\n');
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      // a command: its line, header lines, a blank line, then Content-Length bytes of body
      for (;;) {
        const text = buf.toString('latin1');
        const end = text.search(/\r?\n\r?\n/);
        if (end < 0) return;
        const sep = /\r?\n\r?\n/.exec(text.slice(end))![0].length;
        const [line, ...headerLines] = text.slice(0, end).split(/\r?\n/);
        const headers = parseHeaderBlock(headerLines.join('\n'));
        const length = Number(headers['Content-Length'] ?? 0);
        if (buf.length < end + sep + length) return;
        const body = buf.subarray(end + sep, end + sep + length).toString('utf8');
        buf = buf.subarray(end + sep + length);
        if (line!.trim()) this.command(conn, line!.trim(), headers, body);
      }
    });
  }

  private reply(conn: Conn, text: string): void {
    conn.socket.write(`Content-Type: command/reply\nReply-Text: ${text}\n\n`);
  }

  private command(conn: Conn, line: string, headers: Record<string, string>, body: string): void {
    this.commands.push(line);
    if (!conn.authed) {
      if (line === `auth ${this.password}`) {
        conn.authed = true;
        this.reply(conn, '+OK accepted');
      } else {
        this.reply(conn, '-ERR invalid');
        conn.socket.end();
      }
      return;
    }
    const [verb, ...args] = line.split(' ');
    if (verb === 'api') {
      const out = this.api(args.join(' '));
      conn.socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(out)}\n\n${out}`);
    } else if (verb === 'bgapi') {
      const job = headers['Job-UUID'] ?? crypto.randomUUID();
      this.reply(conn, `+OK Job-UUID: ${job}`);
      const out = this.api(args.join(' '));
      setTimeout(() => this.broadcast({ 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': job, 'Job-Command': args[0] ?? '', 'Job-Command-Arg': args.slice(1).join(' ') }, out), 10);
    } else if (verb === 'event') {
      const [format, ...names] = args;
      if (names.length === 0) return this.reply(conn, '-ERR no keywords supplied');
      conn.format = format === 'json' ? 'json' : 'plain';
      for (const n of names) conn.events.add(n);
      this.reply(conn, `+OK event listener enabled ${conn.format}`);
    } else if (verb === 'sendevent') {
      const { 'Content-Length': _length, ...h } = headers;
      void _length;
      this.sentEvents.push({ headers: { 'Event-Name': args[0] ?? '', ...h }, body });
      this.reply(conn, '+OK');
    } else if (verb === 'exit') {
      this.reply(conn, '+OK bye');
      conn.socket.end();
    } else this.reply(conn, `-ERR command not found`);
  }

  private api(cmd: string): string {
    const canned = this.apiReplies.get(cmd);
    if (canned !== undefined) return canned;
    const [name, ...a] = cmd.split(' ');
    const call = this.calls.get(a[0] ?? '');
    switch (name) {
      case 'status':
        return 'UP 0 years, 0 days, 0 hours, 1 minute, 2 seconds\nFreeSWITCH (Version 1.10.12 fake) is ready\n';
      case 'uuid_exists':
        return call ? 'true' : 'false';
      case 'uuid_setvar':
        if (!call) return '-ERR No such channel!\n';
        call.vars.set(a[1]!, a.slice(2).join(' '));
        return '+OK\n';
      case 'uuid_getvar': {
        if (!call) return '-ERR No such channel!\n';
        const v = a[1] === 'caller_id_number' ? call.caller : a[1] === 'destination_number' ? call.callee : call.vars.get(a[1]!);
        return v ?? '_undef_';
      }
      case 'uuid_record':
        return this.record(call, a.slice(1));
      case 'show':
        // with no channel FreeSWITCH answers {"row_count":0}, without "rows"
        if (this.calls.size === 0) return JSON.stringify({ row_count: 0 });
        return JSON.stringify({
          row_count: this.calls.size,
          rows: [...this.calls.values()].map((c) => ({
            uuid: c.uuid,
            direction: c.direction ?? 'inbound',
            cid_num: c.caller,
            dest: c.callee,
            callstate: c.answered ? 'ACTIVE' : 'RINGING',
          })),
        });
      case 'originate': {
        if (!this.originateAudio) return '-ERR NO_ROUTE_DESTINATION\n';
        const uuid = crypto.randomUUID();
        const dest = (a[0] ?? '').replace(/^\{[^}]*\}/, '');
        this.addCall({ uuid, caller: 'simulstream-test', callee: dest, direction: 'outbound', audio: this.originateAudio, rate: 16000 });
        this.answer(uuid);
        return `+OK ${uuid}\n`;
      }
      default:
        return `-ERR ${name} Command not found!\n`;
    }
  }

  private record(call: CallState | undefined, a: string[]): string {
    if (!call) return '-ERR Cannot locate session!\n';
    const [action, path, , vars] = a;
    if (action === 'stop') {
      for (const r of call.recordings) if (path === 'all' || r.path === path) this.stopRecording(call, r);
      return '+OK Success\n';
    }
    if (action !== 'start' || !path) return '-ERR Usage\n';
    const rv = new Map(call.vars);
    for (const kv of (vars ?? '').replace(/^\{|\}$/g, '').split(',').filter(Boolean)) {
      const [k, v] = kv.split('=');
      rv.set(k!, v ?? '');
    }
    const rateVar = Number(rv.get('record_sample_rate'));
    const rate = rateVar === 8000 || rateVar === 16000 ? rateVar : 8000; // PCMU: the codec's 8 kHz
    const mode = rv.get('RECORD_READ_ONLY') === 'true' ? 'read' : rv.get('RECORD_WRITE_ONLY') === 'true' ? 'write' : 'mixed';
    fs.writeFileSync(path, Buffer.alloc(0));
    const now = performance.now();
    if (call.recordings.length + 1 >= (call.legsRecorded ?? 1)) call.audioStart ??= now;
    const rec: Recording = { path, mode, rate, buffered: !this.honourBufferingVar || rv.get('enable_file_write_buffering') !== 'false', written: 0, pending: [], pendingBytes: 0, stopped: false };
    // a recording begins at the current point of the call (the first one, at the audio's first sample)
    rec.written = call.audioStart === null ? 0 : Math.floor(((now - call.audioStart) / 1000) * rate);
    call.recordings.push(rec);
    this.broadcast({ ...this.channelHeaders(call, 'RECORD_START'), 'Record-File-Path': path });
    return '+OK Success\n';
  }

  /** Every 20 ms: the frames due since the audio started, per recording. */
  private tick(): void {
    for (const c of [...this.calls.values()]) {
      if (c.audioStart === null) continue;
      const elapsed = this.elapsed(c);
      const length = Math.max(c.audio.length, c.calleeAudio?.length ?? 0) / c.rate;
      for (const r of c.recordings) {
        if (r.stopped) continue;
        // whole 20 ms frames at 8 kHz (10 ms at 16 kHz), up to the end of the call's audio
        const due = Math.min(Math.floor((elapsed * r.rate) / 160) * 160, Math.round(length * r.rate));
        if (due > r.written) this.write(c, r, due);
      }
      if (elapsed > length + 0.2) this.hangup(c.uuid);
    }
  }

  private write(c: CallState, r: Recording, until: number): void {
    const n = until - r.written;
    const out = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) out.writeInt16LE(sampleAt(c, r, r.written + i), 2 * i);
    r.written = until;
    if (!r.buffered) return fs.appendFileSync(r.path, out);
    r.pending.push(out);
    r.pendingBytes += out.length;
    if (r.pendingBytes >= 65536) this.flush(r);
  }

  private flush(r: Recording): void {
    if (r.pendingBytes) fs.appendFileSync(r.path, Buffer.concat(r.pending));
    r.pending = [];
    r.pendingBytes = 0;
  }

  private stopRecording(c: CallState, r: Recording): void {
    if (r.stopped) return;
    if (c.audioStart !== null) {
      const end = Math.min(Math.floor(this.elapsed(c) * r.rate), Math.round((Math.max(c.audio.length, c.calleeAudio?.length ?? 0) / c.rate) * r.rate));
      if (end > r.written) this.write(c, r, end);
    }
    this.flush(r);
    r.stopped = true;
    this.broadcast({ ...this.channelHeaders(c, 'RECORD_STOP'), 'Record-File-Path': r.path, 'Record-Completion-Cause': 'success' });
  }

  private broadcast(headers: Record<string, string>, body = ''): void {
    for (const c of this.conns) {
      if (!c.authed || !c.format || !(c.events.has(headers['Event-Name']!) || c.events.has('ALL'))) continue;
      const payload = c.format === 'json' ? JSON.stringify({ ...headers, ...(body ? { _body: body } : {}) }) : formatPlainEvent(headers, body);
      c.socket.write(`Content-Length: ${Buffer.byteLength(payload)}\nContent-Type: text/event-${c.format}\n\n${payload}`);
    }
  }
}

/** The sample at index `i` (at the recording's rate) of what a recording hears. */
function sampleAt(c: CallState, r: Recording, i: number): number {
  const at = (a: Int16Array | undefined): number => {
    if (!a) return 0;
    const j = r.rate === c.rate ? i : r.rate > c.rate ? Math.floor(i / 2) : 2 * i; // the fake resamples crudely
    return j < a.length ? a[j]! : 0;
  };
  const v = r.mode === 'read' ? at(c.audio) : r.mode === 'write' ? at(c.calleeAudio) : at(c.audio) + at(c.calleeAudio);
  return Math.max(-32768, Math.min(32767, v));
}

