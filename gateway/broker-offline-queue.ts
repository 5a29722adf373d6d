// Bounds on each persistent session's offline queue (count, bytes, age), kept as an in-memory index beside the
// broker state in the store. When a session is over a bound its oldest messages are dropped — the newest state of a
// device is what a returning subscriber needs — and every drop is counted by reason and logged at warn, rate-limited.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { OfflineQueueLimits } from './limits/offline-queue.ts';
import type { MetaDb } from './store/store.ts';

export type OfflineDropReason = 'count' | 'bytes' | 'age';

/** The fields of a queued publish this module reads; aedes-packet objects carry more. */
export interface QueuedPacket {
  topic: string;
  payload: Buffer | Uint8Array | string;
  qos: number;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  /** Absolute expiry (ms since the epoch), when a packet carries one. */
  messageExpiry?: number;
}

interface Entry {
  brokerId: string;
  counter: number;
  bytes: number;
  expiresAt: number;
  messageId: number | undefined;
}

/** Which queued message: aedes' broker id and counter, as its store key has them. */
export interface QueuedRef {
  brokerId: string;
  brokerCounter: number;
}

export interface OfflineQueuesEvents {
  /** A queued message was dropped by a bound (per message; the store delete is the caller's). */
  drop: [clientId: string, message: QueuedRef, reason: OfflineDropReason];
}

export interface OfflineQueueStats {
  messages: number;
  bytes: number;
  sessions: number;
  dropped: Record<OfflineDropReason, number>;
}

// The key layout of aedes-persistence-level 9 (asyncPersistence.js): a queued message sits under its broker id and
// zero-padded counter, and again under its message id once it has been sent. Dropping one deletes both.
const OUTGOING = 'outgoing:';
const pad = (n: number): string => String(n).padStart(16, '0');
/** The index entry's identity of a stored packet (what outgoingKey needs). */
const entryOf = (p: QueuedPacket): Entry => ({
  brokerId: p.brokerId ?? '',
  counter: p.brokerCounter ?? 0,
  bytes: 0,
  expiresAt: 0,
  messageId: p.messageId,
});

const outgoingKey = (clientId: string, e: Entry): string =>
  `${OUTGOING}${encodeURIComponent(clientId)}:${e.brokerId}:${pad(e.counter)}`;
const outgoingIdKey = (clientId: string, messageId: number): string =>
  `outgoing-id:${encodeURIComponent(clientId)}:${pad(messageId)}`;

const WARN_EVERY_MS = 10_000;

const earliest = (a: number, b: number | undefined): number => (b !== undefined && b < a ? b : a);

export function packetBytes(p: QueuedPacket): number {
  const payload = typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
  return Buffer.byteLength(p.topic) + payload;
}

export class OfflineQueues extends EventEmitter<OfflineQueuesEvents> {
  /** Store keys of entries taken out of the index whose delete is not written yet. */
  readonly #deleting = new Set<string>();
  private readonly sessions = new Map<string, Map<string, Entry>>();
  private readonly sessionBytes = new Map<string, number>();
  private readonly db: MetaDb;
  private readonly log: Logger;
  readonly limits: OfflineQueueLimits;
  readonly stats: OfflineQueueStats = { messages: 0, bytes: 0, sessions: 0, dropped: { count: 0, bytes: 0, age: 0 } };
  private lastWarn = 0;
  private suppressed = 0;

  constructor(db: MetaDb, limits: OfflineQueueLimits, log: Logger) {
    super();
    this.db = db;
    this.limits = limits;
    this.log = log;
  }

  /** Client ids with something queued in the store (read once at start, before any client connects). */
  async storedSessions(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const key of this.db.keys({ gte: OUTGOING, lt: 'outgoing;' })) {
      const enc = key.slice(OUTGOING.length, key.indexOf(':', OUTGOING.length));
      ids.add(decodeURIComponent(enc));
    }
    return [...ids];
  }

  get maxAgeMs(): number {
    return this.limits.maxAgeSec * 1000;
  }

  /**
   * Index a message already in the store (at start, from the session's stream). The store keeps no enqueue time, so a
   * message found at start gets the full age bound from then: a restart can extend a message's life, never shorten it.
   * `expiresAt` is an expiry of its own the caller keeps elsewhere (a command's TTL): the earlier one holds.
   */
  indexStored(clientId: string, p: QueuedPacket, now: number, expiresAt?: number): void {
    if (p.brokerId === undefined || p.brokerCounter === undefined) return;
    this.add(clientId, {
      brokerId: p.brokerId,
      counter: p.brokerCounter,
      bytes: packetBytes(p),
      expiresAt: earliest(p.messageExpiry ?? now + this.maxAgeMs, expiresAt),
      messageId: p.messageId,
    });
  }

  /** `clientId`'s queue holds this message. */
  holds(clientId: string, m: QueuedRef): boolean {
    return this.sessions.get(clientId)?.has(`${m.brokerId}:${m.brokerCounter}`) ?? false;
  }

  /** The highest counter of `brokerId` among the queued messages. */
  maxCounter(brokerId: string): number {
    let max = 0;
    for (const q of this.sessions.values()) {
      for (const e of q.values()) if (e.brokerId === brokerId && e.counter > max) max = e.counter;
    }
    return max;
  }

  /**
   * Admits `p` into `clientId`'s queue and returns the store keys of what must go to keep the session in bounds
   * (aged, then oldest by count and bytes). `false` when `p` itself is too large to queue. `expiresAt`: as in
   * indexStored.
   */
  admit(clientId: string, p: QueuedPacket, now: number, expiresAt?: number): string[] | false {
    const keys = this.expire(clientId, now);
    const bytes = packetBytes(p);
    if (bytes > this.limits.maxBytes) {
      this.dropped(clientId, 'bytes', 1);
      return false;
    }
    this.add(clientId, {
      brokerId: p.brokerId ?? '',
      counter: p.brokerCounter ?? 0,
      bytes,
      expiresAt: earliest(p.messageExpiry ?? now + this.maxAgeMs, expiresAt),
      messageId: undefined,
    });
    const q = this.sessions.get(clientId) as Map<string, Entry>;
    let byCount = 0;
    let byBytes = 0;
    for (const [id, e] of q) {
      const overCount = q.size > this.limits.maxMessages;
      if (!overCount && (this.sessionBytes.get(clientId) ?? 0) <= this.limits.maxBytes) break;
      this.remove(clientId, id);
      keys.push(...this.keysOf(clientId, e));
      this.emitDrop(clientId, e, overCount ? 'count' : 'bytes');
      if (overCount) byCount++;
      else byBytes++;
    }
    if (byCount) this.dropped(clientId, 'count', byCount);
    if (byBytes) this.dropped(clientId, 'bytes', byBytes);
    return keys;
  }

  /** The message was sent under `messageId`; dropping it later must delete that key too. */
  sent(clientId: string, p: QueuedPacket): void {
    const e = this.sessions.get(clientId)?.get(`${p.brokerId}:${p.brokerCounter}`);
    if (e) e.messageId = p.messageId;
  }

  /** The session acknowledged (or no longer wants) the message. */
  cleared(clientId: string, p: QueuedPacket | undefined): void {
    if (p) this.remove(clientId, `${p.brokerId}:${p.brokerCounter}`);
  }

  /** By the index: aedes-persistence-level 9 stores packets through aedes-packet 3, which keeps no expiry field. */
  /** Taken out of the index (swept, counted) while its delete is still being written: the store still holds it. */
  isLeaving(clientId: string, p: QueuedPacket): boolean {
    return this.#deleting.size > 0 && this.#deleting.has(outgoingKey(clientId, entryOf(p)));
  }

  isExpired(clientId: string, p: QueuedPacket, now: number): boolean {
    const expiresAt =
      this.sessions.get(clientId)?.get(`${p.brokerId}:${p.brokerCounter}`)?.expiresAt ?? p.messageExpiry;
    return expiresAt !== undefined && expiresAt <= now;
  }

  /** A message found aged while streaming the queue to the returning session. */
  expiredOnReplay(clientId: string, p: QueuedPacket): string[] {
    const e = this.sessions.get(clientId)?.get(`${p.brokerId}:${p.brokerCounter}`);
    this.cleared(clientId, p);
    this.dropped(clientId, 'age', 1);
    const entry: Entry = e ?? {
      brokerId: p.brokerId ?? '',
      counter: p.brokerCounter ?? 0,
      bytes: 0,
      expiresAt: 0,
      messageId: p.messageId,
    };
    this.emitDrop(clientId, entry, 'age');
    return this.keysOf(clientId, entry);
  }

  /** Drops every aged message of every session (abandoned sessions get no new messages to trigger it). */
  sweep(now: number): string[] {
    const keys: string[] = [];
    for (const clientId of [...this.sessions.keys()]) keys.push(...this.expire(clientId, now));
    return keys;
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    for (const k of keys) this.#deleting.add(k);
    try {
      await this.db.batch(keys.map((key) => ({ type: 'del' as const, key })));
    } finally {
      for (const k of keys) this.#deleting.delete(k);
    }
  }

  private expire(clientId: string, now: number): string[] {
    const q = this.sessions.get(clientId);
    const keys: string[] = [];
    if (!q) return keys;
    let n = 0;
    for (const [id, e] of q) {
      if (e.expiresAt > now) continue;
      this.remove(clientId, id);
      const gone = this.keysOf(clientId, e);
      // Until delete() has written it, a replay streaming the store must still skip it (isExpired).
      for (const k of gone) this.#deleting.add(k);
      keys.push(...gone);
      this.emitDrop(clientId, e, 'age');
      n++;
    }
    if (n) this.dropped(clientId, 'age', n);
    return keys;
  }

  private emitDrop(clientId: string, e: Entry, reason: OfflineDropReason): void {
    if (this.listenerCount('drop') > 0)
      this.emit('drop', clientId, { brokerId: e.brokerId, brokerCounter: e.counter }, reason);
  }

  private keysOf(clientId: string, e: Entry): string[] {
    const keys = [outgoingKey(clientId, e)];
    if (e.messageId !== undefined && e.messageId > 0) keys.push(outgoingIdKey(clientId, e.messageId));
    return keys;
  }

  private add(clientId: string, e: Entry): void {
    let q = this.sessions.get(clientId);
    if (!q) {
      q = new Map();
      this.sessions.set(clientId, q);
      this.stats.sessions++;
    }
    const id = `${e.brokerId}:${e.counter}`;
    if (q.has(id)) return;
    q.set(id, e);
    this.sessionBytes.set(clientId, (this.sessionBytes.get(clientId) ?? 0) + e.bytes);
    this.stats.messages++;
    this.stats.bytes += e.bytes;
  }

  private remove(clientId: string, id: string): void {
    const q = this.sessions.get(clientId);
    const e = q?.get(id);
    if (!q || !e) return;
    q.delete(id);
    this.stats.messages--;
    this.stats.bytes -= e.bytes;
    const left = (this.sessionBytes.get(clientId) ?? 0) - e.bytes;
    if (q.size === 0) {
      this.sessions.delete(clientId);
      this.sessionBytes.delete(clientId);
      this.stats.sessions--;
    } else {
      this.sessionBytes.set(clientId, left);
    }
  }

  private dropped(clientId: string, reason: OfflineDropReason, n: number): void {
    this.stats.dropped[reason] += n;
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) {
      this.suppressed += n;
      return;
    }
    this.log.warn(
      { client: clientId, reason, dropped: n, alsoDroppedSinceLastWarn: this.suppressed, limits: this.limits },
      reason === 'age' ? 'offline queue: messages past their age dropped' : 'offline queue full: messages dropped',
    );
    this.lastWarn = now;
    this.suppressed = 0;
  }
}
