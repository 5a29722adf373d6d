// The outbox: records waiting for Kafka, one storage class each. append() is the one way in: it stamps the message
// (gateway and device sequences, ingest time), admits each record against its class budget, encodes it and queues it
// with the message's flow-journal entries as one unit of the next group commit. The forwarder reads a class in
// sequence order and removes what Kafka acknowledged; the budget keeper removes what the budget drops.
import type { AbstractIteratorOptions } from 'abstract-level';
import { GatewayError } from '../errors.ts';
import type { Admission, DropReason } from './admission.ts';
import { decodeRecord, encodeWithStrings, type StoredRecord } from './codec.ts';
import { Destination, type DestinationSpec } from './destination.ts';
import type { CommitUnit, GroupCommit, MetaWrite, PendingRecord } from './group-commit.ts';
import type { Journal, JournalTap } from './journal.ts';
import type { OutboxMessage } from './message.ts';
import { decodeSeq, encodeSeq } from './seq-key.ts';
import type { Sequences } from './sequences.ts';
import { type StorageClass, storedSize } from './storage-class.ts';

export type { OutboxMessage };

export interface AppendOptions {
  /** Flow inputs the message is handed to: QoS >= 1 messages are journaled for them in the same commit. */
  taps?: readonly JournalTap[];
  /** Count the records against the device's share of a `reject` class (default true). */
  deviceShare?: boolean;
  /** Meta entries to write in the same commit as the records (e.g. the online set beside a client event). */
  meta?: readonly MetaWrite[];
}

/** What the store stamped on an appended message. */
export interface Stamp {
  deviceSeq: number;
  ingestTs: number;
  /** Per tap (same order as `taps`), the journal entry to complete; undefined for QoS 0. */
  journalKeys: (Buffer | undefined)[];
}

export interface ReadLimits {
  maxRecords: number;
  /** Stored bytes per batch (the first record always fits). */
  maxBytes: number;
}

const NO_TAPS: readonly JournalTap[] = [];
const NO_KEYS: (Buffer | undefined)[] = [];

export class Outbox {
  readonly classes: ReadonlyMap<string, StorageClass>;
  readonly #sequences: Sequences;
  readonly #admission: Admission;
  readonly #writer: GroupCommit;
  readonly #journal: Journal;
  readonly #unavailable: () => Error | undefined;
  /** Per class, the first record of a read ahead of the head: its ingest time is the class's oldest once the
   * records before it are removed. */
  readonly #ahead = new Map<StorageClass, { from: number; ts: number }>();

  constructor(ctx: {
    classes: ReadonlyMap<string, StorageClass>;
    sequences: Sequences;
    admission: Admission;
    writer: GroupCommit;
    journal: Journal;
    /** Why nothing can be queued now (closed or failed store), or undefined. */
    unavailable: () => Error | undefined;
  }) {
    this.classes = ctx.classes;
    this.#sequences = ctx.sequences;
    this.#admission = ctx.admission;
    this.#writer = ctx.writer;
    this.#journal = ctx.journal;
    this.#unavailable = ctx.unavailable;
  }

  get lastSeq(): number {
    return this.#sequences.last;
  }

  class(name: string): StorageClass | undefined {
    return this.classes.get(name);
  }

  /** A destination in class `spec.class`; throws GW_ERR_CONFIG for an unknown class. */
  destination(spec: DestinationSpec): Destination {
    const cls = this.classes.get(spec.class);
    if (!cls) throw new GatewayError('GW_ERR_CONFIG', `unknown class "${spec.class}"`);
    return new Destination(cls, spec);
  }

  /**
   * Appends one message: a record per destination, and a journal entry per tap. Throws (nothing queued) when a
   * class refuses a record (GW_ERR_TOO_LARGE, GW_ERR_BUFFER_FULL, GW_ERR_DEVICE_SHARE). Otherwise `cb` runs once
   * the unit is on disk, or failed (store closed or failed: GW_ERR_STORE_CLOSED, GW_ERR_STORE).
   */
  append(msg: OutboxMessage, to: readonly Destination[], opts: AppendOptions, cb: (err: Error | null) => void): Stamp {
    const ingestTs = Date.now();
    const taps = opts.taps ?? NO_TAPS;
    const records: PendingRecord[] = [];
    let deviceSeq = 0;
    for (const d of to) {
      if (deviceSeq === 0) deviceSeq = this.#sequences.nextForDevice(msg.clientId);
      const value = encodeWithStrings(d.strings(msg), {
        qos: msg.qos,
        retain: msg.retain ?? false,
        envelope: d.envelope,
        ingestTs,
        deviceSeq,
        payload: msg.payload,
      });
      this.#admission.admit(d.cls, storedSize(value), opts.deviceShare === false ? undefined : msg.clientId);
      records.push({ cls: d.cls, seq: this.#sequences.next(), value });
    }
    const journal: CommitUnit['journal'] = [];
    let journalKeys = NO_KEYS;
    if (taps.length > 0) {
      if (deviceSeq === 0) deviceSeq = this.#sequences.nextForDevice(msg.clientId);
      const seq = records.length > 0 ? (records[0] as PendingRecord).seq : this.#sequences.next();
      journalKeys = this.#journal.put(taps, seq, msg, { deviceSeq, ingestTs }, journal);
    }
    const unit: CommitUnit = opts.meta ? { records, journal, meta: opts.meta, cb } : { records, journal, cb };
    const unavailable = this.#unavailable();
    if (unavailable) unit.cb(unavailable);
    else this.#writer.queue(unit);
    return { deviceSeq, ingestTs, journalKeys };
  }

  /**
   * Reads up to `limits` of `cls` in sequence order from `from` (or its head). Reading from the head refreshes the
   * class's oldest-record time; a read ahead of it (while an earlier batch is in flight) keeps it for remove().
   */
  async read(cls: StorageClass, from: number, limits: ReadLimits): Promise<StoredRecord[]> {
    const start = Math.max(from, cls.head);
    const { maxRecords, maxBytes } = limits;
    // nextv() hands out one internal buffer at a time (16 KB by default, ~45 records): size it to the batch and
    // keep reading until the batch is full, or every send carries a few dozen records.
    const opts: AbstractIteratorOptions<Buffer, Buffer> & { highWaterMarkBytes: number } = {
      gte: encodeSeq(start),
      limit: maxRecords,
      highWaterMarkBytes: maxBytes, // classic-level's option; the sublevel passes it on
    };
    const it = cls.db.iterator(opts);
    const out: StoredRecord[] = [];
    let bytes = 0;
    try {
      read: while (out.length < maxRecords) {
        const entries = await it.nextv(maxRecords - out.length);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          if (out.length > 0 && bytes + v.length > maxBytes) break read;
          out.push(decodeRecord(decodeSeq(k), v));
          bytes += v.length;
        }
      }
    } finally {
      await it.close();
    }
    const ts = out[0]?.ingestTs ?? 0;
    if (start <= cls.head) cls.setOldest(ts);
    else this.#ahead.set(cls, { from: start, ts });
    return out;
  }

  /**
   * Removes records that Kafka acknowledged (no reason) or that the budget dropped (`reason`). Not fsync'd by
   * itself: a lost delete only resends.
   */
  remove(cls: StorageClass, seqs: readonly number[], sizes: readonly number[], reason?: DropReason): void {
    let bytes = 0;
    let count = 0;
    const keys: Buffer[] = [];
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i] as number;
      if (seq < cls.head) continue; // already removed by a budget drop
      keys.push(this.#writer.recordKey(cls, seq));
      bytes += sizes[i] as number;
      count += 1;
    }
    const before = cls.bytes;
    cls.removed(bytes, count, seqs[seqs.length - 1]);
    if (bytes > 0) this.#admission.release(cls, before);
    cls.deletesSinceCompact += count;
    this.#writer.dirty(cls);
    this.oldestAfterRemove(cls, reason);
    if (reason && count > 0) this.#admission.dropped(cls.name, reason, count, bytes);
    this.#writer.delete(keys);
  }

  private oldestAfterRemove(cls: StorageClass, reason: DropReason | undefined): void {
    const ahead = this.#ahead.get(cls);
    this.#ahead.delete(cls);
    if (cls.count <= 0) cls.setOldest(0);
    else if (!reason && ahead && ahead.ts > 0 && ahead.from === cls.head) cls.setOldest(ahead.ts);
  }

  /** The backlog for /healthz: totals and each class's records, bytes, oldest age, budget and policy. */
  backlog(now = Date.now()): Backlog {
    let records = 0;
    let bytes = 0;
    let oldest = 0;
    const classes: Backlog['classes'] = {};
    for (const c of this.classes.values()) {
      records += c.count;
      bytes += c.bytes;
      const classOldest = c.count > 0 && c.oldestTs > 0 ? c.oldestTs : 0;
      if (classOldest && (oldest === 0 || classOldest < oldest)) oldest = classOldest;
      classes[c.name] = {
        records: c.count,
        bytes: c.bytes,
        oldestAgeSec: classOldest ? (now - classOldest) / 1000 : 0,
        budgetBytes: c.budget.maxBytes,
        policy: c.budget.policy,
      };
    }
    return { records, bytes, oldestAgeSec: oldest ? (now - oldest) / 1000 : 0, classes };
  }
}

export interface Backlog {
  records: number;
  bytes: number;
  oldestAgeSec: number;
  classes: Record<
    string,
    { records: number; bytes: number; oldestAgeSec: number; budgetBytes: number; policy: string }
  >;
}
