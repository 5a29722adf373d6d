// What the downlink reads from a command record besides its device and payload: the command's id (what its
// acknowledgement or drop is reported under) and when it expires. docs/commands.md describes the headers.
import type { SourceRecord } from '../sources/index.ts';

/** Kafka header names of a command record (besides `mqtt.topic`). */
export const COMMAND_HEADER = {
  id: 'command.id',
  /** Milliseconds the command may wait for its device, from its arrival at the gateway. */
  ttlMs: 'command.ttl_ms',
  /** Absolute expiry: milliseconds since the epoch, or an ISO 8601 date with its zone. */
  expiresAt: 'command.expires_at',
} as const;

export interface CommandMeta {
  id: string;
  /** When the gateway took the record from Kafka (ms since the epoch). */
  arrivedAt: number;
  /** When the command expires (ms since the epoch); absent when it does not. */
  expiresAt: number | undefined;
}

export type CommandParse = { ok: true; command: CommandMeta } | { ok: false; header: string; value: string };

/** The record's id: the header `command.id` when present and not empty, else `<topic>/<partition>/<offset>`. */
export function commandId(r: Pick<SourceRecord, 'topic' | 'partition' | 'offset' | 'headers'>): string {
  const id = r.headers[COMMAND_HEADER.id]?.toString();
  return id ? id : `${r.topic}/${r.partition}/${r.offset}`;
}

const INTEGER = /^\d+$/;

/** `command.ttl_ms`: a whole number of milliseconds; 0 means no expiry, as `downlink.ttlSec: 0` does. */
function parseTtl(value: string, arrivedAt: number): number | undefined | null {
  if (!INTEGER.test(value)) return null;
  const ms = Number(value);
  if (!Number.isSafeInteger(ms)) return null;
  return ms === 0 ? undefined : arrivedAt + ms;
}

/** `command.expires_at`: ms since the epoch, or an ISO 8601 date that names its zone (`Z` or an offset). */
function parseExpiresAt(value: string): number | null {
  if (INTEGER.test(value)) {
    const ms = Number(value);
    return Number.isSafeInteger(ms) ? ms : null;
  }
  if (!/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * The command's id and expiry. Expiry: the earlier of `command.expires_at` and `command.ttl_ms` when either header is
 * there, else `ttlSec` after its arrival (0: none). A header that cannot be read makes the record unusable: guessing
 * would either deliver a command its sender wanted dropped or drop one it wanted delivered.
 */
export function parseCommand(r: SourceRecord, o: { ttlSec: number; now: number }): CommandParse {
  const arrivedAt = o.now;
  const id = commandId(r);
  const ttlHeader = r.headers[COMMAND_HEADER.ttlMs]?.toString().trim();
  const atHeader = r.headers[COMMAND_HEADER.expiresAt]?.toString().trim();
  const expiries: number[] = [];
  if (ttlHeader !== undefined) {
    const at = parseTtl(ttlHeader, arrivedAt);
    if (at === null) return { ok: false, header: COMMAND_HEADER.ttlMs, value: ttlHeader };
    if (at !== undefined) expiries.push(at);
  }
  if (atHeader !== undefined) {
    const at = parseExpiresAt(atHeader);
    if (at === null) return { ok: false, header: COMMAND_HEADER.expiresAt, value: atHeader };
    expiries.push(at);
  }
  if (ttlHeader === undefined && atHeader === undefined && o.ttlSec > 0) expiries.push(arrivedAt + o.ttlSec * 1000);
  const expiresAt = expiries.length ? Math.min(...expiries) : undefined;
  return { ok: true, command: { id, arrivedAt, expiresAt } };
}
