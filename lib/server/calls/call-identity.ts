import { randomUUID } from 'node:crypto';
import type { CallIdentity, StreamProtocol } from '../observer.js';

/** Longest identity field kept from a switch's metadata (a longer one is cut). */
const MAX_FIELD = 256;

/** The metadata keys that name each field: ours, then FreeSWITCH's channel variables and event headers. */
const SPELLINGS = {
  uuid: ['uuid', 'Unique-ID', 'unique_id', 'call_uuid'],
  caller: ['caller', 'Caller-Caller-ID-Number', 'caller_id_number'],
  callee: ['callee', 'Caller-Destination-Number', 'destination_number'],
} as const satisfies Record<keyof CallIdentity, readonly string[]>;

/**
 * The identity fields a switch's metadata gives (a JSON object: `uuid`, `caller`, `callee`, or
 * FreeSWITCH's `Unique-ID` / `Caller-Caller-ID-Number` / `Caller-Destination-Number` spellings);
 * `null` when the text is not a JSON object. Strings and numbers are taken, at most 256 characters.
 */
export function identityFromMetadata(text: string): Partial<CallIdentity> | null {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const fields = o as Record<string, unknown>;
  const out: { -readonly [K in keyof CallIdentity]?: string } = {};
  for (const [field, keys] of Object.entries(SPELLINGS) as [keyof CallIdentity, readonly string[]][]) {
    for (const k of keys) {
      const v = fields[k];
      if ((typeof v === 'string' && v !== '') || typeof v === 'number') {
        out[field] = String(v).slice(0, MAX_FIELD);
        break;
      }
    }
  }
  return out;
}

/** AudioSocket's 16-byte UUID payload → its usual 8-4-4-4-12 hex form; `null` for another length. */
export function uuidFromBytes(b: Uint8Array): string | null {
  if (b.length !== 16) return null;
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A call's identity, offered by its metadata and fixed at the first of: the first offer with a
 * uuid, the call's first line, its end. Later offers do not change a fixed identity (its store
 * file is named by then); a call that never says who it is gets `<protocol>-<random UUID>`.
 */
export class IdentityHolder {
  private offered: Partial<CallIdentity> = {};
  private fixed: CallIdentity | null = null;

  constructor(
    private readonly protocol: StreamProtocol,
    private readonly onFixed: (identity: CallIdentity) => void,
  ) {}

  get isFixed(): boolean {
    return this.fixed !== null;
  }

  /** What the metadata says; returns false when the identity was already fixed (the offer is ignored). */
  offer(fields: Partial<CallIdentity>): boolean {
    if (this.fixed) return false;
    this.offered = { ...this.offered, ...fields };
    if (this.offered.uuid) this.get();
    return true;
  }

  /** The identity, fixed now if it was not. */
  get(): CallIdentity {
    if (this.fixed) return this.fixed;
    const id: CallIdentity = { uuid: this.offered.uuid ?? `${this.protocol}-${randomUUID()}`, caller: this.offered.caller ?? '', callee: this.offered.callee ?? '' };
    this.fixed = id;
    this.onFixed(id);
    return id;
  }
}
