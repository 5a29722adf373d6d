// Commands waiting for their device's acknowledgement, kept in the store's meta (`cmd!<client>!<broker id>!<counter>`)
// so that an acknowledgement after a gateway restart is still reported under the command's id.
//
// The key is what aedes hands back unchanged: a QoS > 0 publish to a persistent session is stored in the session's
// offline queue under its broker id and counter (aedes-persistence-level's `outgoing:` keys), and the packet aedes
// returns on PUBACK (QoS 1) or PUBCOMP (QoS 2: the stored PUBREL) carries both, before and after a restart. The
// broker persistence (gateway/broker-persistence.ts) tells this table when a command is queued (`bind`), sent
// (`delivered`), acknowledged (`acked`) or dropped from the queue (`removed`); the downlink registers each command
// just before publishing it (`expect`), so a queued packet is recognised as that command. One write per command and
// subscriber, one delete when it is done: device traffic upward never touches this table.
//
// A finished command (acknowledged or dropped) leaves a mark under its Kafka record (`cmddone!<topic>/<partition>/
// <offset>`): a gateway killed after queueing a command but before committing its offset is handed the record again,
// and without the mark a command that expired meanwhile would be queued anew with a fresh TTL and delivered late.
// The marks are bounded: each is kept for a day and at most 10,000 are kept (the oldest go first).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { QueuedPacket } from './broker-offline-queue.ts';
import type { DropReason } from './events/types.ts';
import type { MetaDb } from './store/store.ts';

const PREFIX = 'cmd!';
const END = 'cmd"';
const DONE = 'cmddone!';
const DONE_END = 'cmddone"';
const DONE_RETENTION_MS = 24 * 3600_000;
const DONE_MAX = 10_000;
const pad = (n: number): string => String(n).padStart(16, '0');

/** A command the downlink is about to publish. */
export interface CommandSpec {
  id: string;
  topic: string;
  payload: Buffer;
  qos: number;
  /** When it reached the gateway (ms since the epoch). */
  arrivedAt: number;
  /** When it expires (ms since the epoch); absent when it does not. */
  expiresAt?: number | undefined;
  /** The Kafka record it came from (`<topic>/<partition>/<offset>`), marked once the command is finished. */
  record?: string | undefined;
}

/** A command queued for one client. */
export interface PendingCommand {
  id: string;
  clientId: string;
  topic: string;
  qos: number;
  arrivedAt: number;
  expiresAt?: number | undefined;
  record?: string | undefined;
}

export interface PendingCommandsEvents {
  /** The broker handed the command to its device's connection (each time it is sent). */
  delivered: [command: PendingCommand];
  /** The device acknowledged it (PUBACK, or PUBCOMP for QoS 2). */
  acked: [command: PendingCommand, at: number];
  /** It will not be delivered: expired, pushed out of a full queue, or its session was discarded. */
  dropped: [command: PendingCommand, reason: DropReason];
}

export interface PendingCommandsOptions {
  db: MetaDb;
  log: Logger;
  now?: () => number;
  /** How long a finished command's record stays marked (default a day). */
  doneRetentionMs?: number;
  /** How many finished records stay marked at most (default 10,000). */
  doneMax?: number;
}

type MarkOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };
type Ref = Pick<QueuedPacket, 'brokerId' | 'brokerCounter'>;
/** A table row: the command and the queued packet it is (the key is derived from these). */
interface Row extends PendingCommand {
  brokerId: string;
  brokerCounter: number;
}

function storeKey(clientId: string, p: Ref): string {
  return `${PREFIX}${encodeURIComponent(clientId)}:${p.brokerId ?? ''}:${pad(p.brokerCounter ?? 0)}`;
}

const idKey = (id: string, topic: string): string => `${id}\u0000${topic}`;

function sameBytes(a: QueuedPacket['payload'], b: Buffer): boolean {
  if (a === b) return true;
  return (typeof a === 'string' ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength)).equals(b);
}

export class PendingCommands extends EventEmitter<PendingCommandsEvents> {
  private readonly db: MetaDb;
  private readonly log: Logger;
  private readonly now: () => number;
  /** By store key. */
  private readonly pending = new Map<string, Row>();
  /** How many queued copies each command (id and MQTT topic) has. */
  private readonly ids = new Map<string, number>();
  /** Commands being published right now, not yet recognised in a queue. */
  private readonly inflight = new Set<CommandSpec>();
  /** Finished commands' Kafka records and when they finished, oldest first. */
  private readonly finished = new Map<string, number>();
  private readonly doneRetentionMs: number;
  private readonly doneMax: number;
  private loaded = false;

  constructor(o: PendingCommandsOptions) {
    super();
    this.db = o.db;
    this.log = o.log;
    this.now = o.now ?? Date.now;
    this.doneRetentionMs = o.doneRetentionMs ?? DONE_RETENTION_MS;
    this.doneMax = o.doneMax ?? DONE_MAX;
  }

  /** Reads the table from the store (once; the broker persistence calls it before it indexes the queues). */
  async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    for await (const [key, value] of this.db.iterator({ gte: PREFIX, lt: END })) {
      try {
        const row = JSON.parse(value) as Row;
        this.add(storeKey(row.clientId, row), row);
      } catch {
        await this.db.del(key);
      }
    }
    const marks: [string, number][] = [];
    for await (const [key, value] of this.db.iterator({ gte: DONE, lt: DONE_END })) {
      marks.push([key.slice(DONE.length), Number(value) || 0]);
    }
    marks.sort((a, b) => a[1] - b[1]);
    for (const [record, at] of marks) this.finished.set(record, at);
    const expired = this.prune();
    if (expired.length) await this.db.batch(expired);
  }

  /**
   * The Kafka record `record` was a command that is finished (acknowledged or dropped): handed over again, it must
   * not be queued again.
   */
  handled(record: string): boolean {
    return this.finished.has(record);
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * A command with this id waits in a queue for this MQTT topic (a record Kafka hands over again after a crash, say).
   * By id and topic: one id may name a command sent to many devices.
   */
  has(id: string, topic: string): boolean {
    return this.ids.has(idKey(id, topic));
  }

  /** Registers a command about to be published; call the returned function once the publish settled. */
  expect(spec: CommandSpec): () => void {
    this.inflight.add(spec);
    return () => this.inflight.delete(spec);
  }

  /** The command `p` is, when it is one being published (device traffic finds the set empty). */
  match(p: QueuedPacket): CommandSpec | undefined {
    if (this.inflight.size === 0) return undefined;
    for (const spec of this.inflight) {
      if (spec.topic === p.topic && sameBytes(p.payload, spec.payload)) {
        this.inflight.delete(spec);
        return spec;
      }
    }
    return undefined;
  }

  /** `spec` is queued for `clientIds` as packet `p`: one durable write for all of them. */
  async bind(spec: CommandSpec, clientIds: readonly string[], p: QueuedPacket): Promise<void> {
    if (clientIds.length === 0) return;
    const ops = clientIds.map((clientId) => {
      const key = storeKey(clientId, p);
      const row: Row = {
        ...this.describe(spec, clientId),
        brokerId: p.brokerId ?? '',
        brokerCounter: p.brokerCounter ?? 0,
      };
      this.add(key, row);
      return { type: 'put' as const, key, value: JSON.stringify(row) };
    });
    await this.db.batch(ops);
  }

  /** A command that never reached a queue of `clientId` (refused at arrival or too large to queue). */
  refused(spec: CommandSpec, clientId: string, reason: DropReason): void {
    this.emit('dropped', this.describe(spec, clientId), reason);
    const ops = this.finish(spec.record);
    if (ops.length) {
      this.db.batch(ops).catch((err: unknown) => this.log.warn({ err, command: spec.id }, 'could not mark a command'));
    }
  }

  /** The expiry of the command queued for `clientId` as `p`, if it is one. */
  expiryOf(clientId: string, p: Ref): number | undefined {
    return this.pending.get(storeKey(clientId, p))?.expiresAt;
  }

  /** The earliest expiry of any waiting command. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const c of this.pending.values()) {
      if (c.expiresAt !== undefined && (next === undefined || c.expiresAt < next)) next = c.expiresAt;
    }
    return next;
  }

  /**
   * Forgets commands whose queued message is gone (acknowledged or dropped just before a crash, or the session was
   * cleaned while no one listened): what happened to them is not known, so nothing is reported.
   */
  async reconcile(queued: (clientId: string, p: Required<Ref>) => boolean): Promise<void> {
    const gone: string[] = [];
    for (const [key, row] of this.pending) if (!queued(row.clientId, row)) gone.push(key);
    if (gone.length === 0) return;
    for (const key of gone) this.forget(key);
    this.log.info({ commands: gone.length }, 'commands no longer queued forgotten');
    await this.db.batch(gone.map((key) => ({ type: 'del' as const, key })));
  }

  /** The broker sent `p` to `clientId`. */
  delivered(clientId: string, p: Ref): void {
    if (this.pending.size === 0) return;
    const row = this.pending.get(storeKey(clientId, p));
    if (row) this.emit('delivered', this.command(row));
  }

  /** `clientId` acknowledged `p` (the packet aedes returns on PUBACK / PUBCOMP). */
  acked(clientId: string, p: Ref): Promise<void> {
    return this.done(clientId, p, (c) => this.emit('acked', c, this.now()));
  }

  /** `p` left `clientId`'s queue without being acknowledged. */
  removed(clientId: string, p: Ref, reason: DropReason): Promise<void> {
    return this.done(clientId, p, (c) => this.emit('dropped', c, reason));
  }

  private async done(clientId: string, p: Ref, report: (c: PendingCommand) => void): Promise<void> {
    if (this.pending.size === 0) return;
    const key = storeKey(clientId, p);
    const row = this.pending.get(key);
    if (!row) return;
    this.forget(key);
    report(this.command(row));
    await this.db
      .batch([{ type: 'del', key }, ...this.finish(row.record)])
      .catch((err: unknown) => this.log.warn({ err, command: row.id }, 'could not delete a command'));
  }

  /** Marks `record` finished: the writes that do so and drop the marks past their retention or the cap. */
  private finish(record: string | undefined): MarkOp[] {
    if (record === undefined) return [];
    const at = this.now();
    this.finished.delete(record);
    this.finished.set(record, at);
    return [{ type: 'put', key: DONE + record, value: String(at) }, ...this.prune()];
  }

  private prune(): MarkOp[] {
    const ops: MarkOp[] = [];
    const oldest = this.now() - this.doneRetentionMs;
    for (const [record, at] of this.finished) {
      if (at >= oldest && this.finished.size <= this.doneMax) break;
      this.finished.delete(record);
      ops.push({ type: 'del', key: DONE + record });
    }
    return ops;
  }

  private command(row: Row): PendingCommand {
    const { brokerId: _b, brokerCounter: _c, ...c } = row;
    return c;
  }

  private describe(spec: CommandSpec, clientId: string): PendingCommand {
    return {
      id: spec.id,
      clientId,
      topic: spec.topic,
      qos: spec.qos,
      arrivedAt: spec.arrivedAt,
      ...(spec.expiresAt !== undefined ? { expiresAt: spec.expiresAt } : {}),
      ...(spec.record !== undefined ? { record: spec.record } : {}),
    };
  }

  private add(key: string, c: Row): void {
    if (this.pending.has(key)) return;
    this.pending.set(key, c);
    const k = idKey(c.id, c.topic);
    this.ids.set(k, (this.ids.get(k) ?? 0) + 1);
  }

  private forget(key: string): void {
    const c = this.pending.get(key);
    if (!c) return;
    this.pending.delete(key);
    const k = idKey(c.id, c.topic);
    const n = (this.ids.get(k) ?? 1) - 1;
    if (n > 0) this.ids.set(k, n);
    else this.ids.delete(k);
  }
}
