// The store's one writer. Every write goes through it and it group-commits: one batch (fsync'd in `fsync` mode)
// covers every unit that arrived while the previous batch was being written, then all their callbacks run. That is
// where a device's PUBACK is released, so it never precedes durability (promises 1 and 2).
import type { EventEmitter } from 'node:events';
import type { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.ts';
import type { StoreEvents } from './events.ts';
import type { Sequences } from './sequences.ts';
import { type StorageClass, storedSize } from './storage-class.ts';

export type Durability = 'fsync' | 'os';

/** One record of a unit, with its gateway sequence and encoded value. */
export interface PendingRecord {
  cls: StorageClass;
  seq: number;
  value: Buffer;
}

/** One ingested message: its outbox records and journal entries (root keys), committed atomically. */
export interface CommitUnit {
  records: PendingRecord[];
  journal: { key: Buffer; value: Buffer }[];
  /** Meta entries written (value) or removed (no value) in the same batch as the unit's records. */
  meta?: readonly MetaWrite[];
  cb: (err: Error | null) => void;
}

/** A meta key (without the sublevel prefix) to set, or to remove when `value` is undefined. */
export interface MetaWrite {
  key: string;
  value?: string;
}

/** A write on the root database with the sublevel prefix already in the key: no per-op transcoding at commit. */
type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface GroupCommitContext {
  db: ClassicLevel<string, string>;
  durability: Durability;
  groupCommit: { maxRecords: number; windowMs: number };
  compactAfterDeletes: number;
  log: Logger;
  events: EventEmitter<StoreEvents>;
  sequences: Sequences;
  classes: readonly StorageClass[];
  /** Root key of a class record. */
  recordKey(cls: StorageClass, seq: number): Buffer;
  metaPrefix: string;
}

export class GroupCommit {
  readonly #c: GroupCommitContext;
  #units: CommitUnit[] = [];
  #pendingRecords = 0;
  #extraOps: Op[] = [];
  #dirtyClasses = new Set<StorageClass>();
  #writing = false;
  #scheduled = false;
  #idleWaiters: (() => void)[] = [];
  commits = 0;
  /** A compaction runs now (one at a time). */
  #compacting = false;
  writeErrors = 0;
  lastWriteError = '';
  /** Set by the first failed write: from then on nothing is written (or acknowledged) through this handle. */
  failed: Error | undefined;

  constructor(c: GroupCommitContext) {
    this.#c = c;
  }

  /** Root key of a class record. */
  recordKey(cls: StorageClass, seq: number): Buffer {
    return this.#c.recordKey(cls, seq);
  }

  /** Queues a unit for the next group commit; `unit.cb` runs once it is on disk (or failed). */
  queue(unit: CommitUnit): void {
    for (const r of unit.records) r.cls.queued(storedSize(r.value));
    this.#units.push(unit);
    this.#pendingRecords += unit.records.length + unit.journal.length;
    this.schedule();
  }

  /** Deletes with the next commit. Not fsync'd by themselves: a lost delete only resends. */
  delete(keys: Iterable<Buffer>): void {
    for (const key of keys) this.#extraOps.push({ type: 'del', key });
    this.schedule();
  }

  /** The class's counters are written with the next commit. */
  dirty(cls: StorageClass): void {
    this.#dirtyClasses.add(cls);
  }

  schedule(): void {
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    const w = this.#c.groupCommit.windowMs;
    if (w > 0 && this.#pendingRecords < this.#c.groupCommit.maxRecords) setTimeout(() => this.flush(), w);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.#scheduled = false;
    if (this.#writing) return;
    if (this.failed) {
      this.failPending();
      return;
    }
    if (this.#units.length === 0 && this.#extraOps.length === 0 && this.#dirtyClasses.size === 0) {
      this.notifyIdle();
      return;
    }
    this.#writing = true;
    const { units, recs } = this.takeUnits();
    const ops: Op[] = this.#extraOps;
    this.#extraOps = [];
    const touched = new Set<StorageClass>();
    const now = Date.now();
    for (const u of units) {
      for (const r of u.records) {
        ops.push({ type: 'put', key: this.#c.recordKey(r.cls, r.seq), value: r.value });
        r.cls.written(storedSize(r.value), now);
        touched.add(r.cls);
      }
      for (const j of u.journal) ops.push({ type: 'put', key: j.key, value: j.value });
      if (u.meta) this.unitMeta(u.meta, ops);
    }
    for (const cls of touched) this.#dirtyClasses.add(cls);
    this.metaOps(ops);
    const sync = this.#c.durability === 'fsync' && units.length > 0;
    this.#c.db.batch<Buffer, Buffer>(ops, { keyEncoding: 'buffer', valueEncoding: 'buffer', sync }).then(
      () => this.committed(units, recs, touched, null),
      (err: unknown) => this.committed(units, recs, touched, err as Error),
    );
  }

  /** Whole units up to maxRecords: a unit's records and journal entries commit together. */
  private takeUnits(): { units: CommitUnit[]; recs: number } {
    const max = this.#c.groupCommit.maxRecords;
    let take = 0;
    let recs = 0;
    while (take < this.#units.length && (recs < max || take === 0)) {
      const u = this.#units[take] as CommitUnit;
      recs += u.records.length + u.journal.length;
      take++;
    }
    const all = take === this.#units.length;
    const units = all ? this.#units : this.#units.slice(0, take);
    this.#units = all ? [] : this.#units.slice(take);
    this.#pendingRecords -= recs;
    return { units, recs };
  }

  /** The sequences, the counters of every class that changed, and the device blocks that moved. */
  private unitMeta(writes: readonly MetaWrite[], ops: Op[]): void {
    const prefix = this.#c.metaPrefix;
    for (const w of writes) {
      const key = Buffer.from(prefix + w.key);
      ops.push(w.value === undefined ? { type: 'del', key } : { type: 'put', key, value: Buffer.from(w.value) });
    }
  }

  private metaOps(ops: Op[]): void {
    const meta: { key: string; value: string }[] = [];
    this.#c.sequences.takeMetaWrites(meta);
    for (const cls of this.#dirtyClasses) meta.push({ key: `lane!${cls.name}`, value: JSON.stringify(cls.stats()) });
    this.#dirtyClasses = new Set();
    const prefix = this.#c.metaPrefix;
    for (const m of meta) ops.push({ type: 'put', key: Buffer.from(prefix + m.key), value: Buffer.from(m.value) });
  }

  private committed(units: CommitUnit[], recs: number, touched: Set<StorageClass>, err: Error | null): void {
    this.#writing = false;
    this.commits += 1;
    const { events } = this.#c;
    if (err) {
      this.writeErrors += 1;
      this.lastWriteError = err.message;
      this.failed = err;
      events.emit('writeError', recs, err);
      this.#c.log.error({ err: err.message, records: recs }, 'store write failed; those messages are not acknowledged');
      const e = new GatewayError('GW_ERR_STORE', `store write failed: ${err.message}`, { cause: err });
      for (const u of units) {
        for (const r of u.records) r.cls.unwritten(storedSize(r.value));
        u.cb(e);
      }
      this.failPending();
      events.emit('fatal', err);
    } else {
      events.emit('commit', recs, units.length);
      for (const u of units) u.cb(null);
      for (const cls of touched) events.emit('append', cls);
      this.maybeCompact();
    }
    if (this.#units.length > 0 || this.#extraOps.length > 0 || this.#dirtyClasses.size > 0) this.schedule();
    else this.notifyIdle();
  }

  /** Fails everything still queued once the store has failed: none of it may be acknowledged. */
  failPending(): void {
    const err = new GatewayError('GW_ERR_STORE', `the store failed: ${this.failed?.message}`, { cause: this.failed });
    const units = this.#units;
    this.#units = [];
    this.#extraOps = [];
    this.#pendingRecords = 0;
    for (const u of units) {
      for (const r of u.records) r.cls.unqueued(storedSize(r.value));
      u.cb(err);
    }
    this.notifyIdle();
  }

  /**
   * After many deletes the head of a class is a field of tombstones; compacting it keeps seeks from it fast. Only the
   * removed part is compacted (the class's prefix up to the key of its head), not the records still waiting: a whole
   * class range rewrites the entire backlog each time, which on a large backlog takes longer than the drain needs for
   * the next compactAfterDeletes deletes. One compaction at a time: each holds a libuv thread (the store's reads and
   * writes run on the same four) and LevelDB runs manual compactions one after another anyway; a class past its
   * threshold meanwhile is compacted after the one running ends.
   */
  private maybeCompact(): void {
    const after = this.#c.compactAfterDeletes;
    if (after <= 0 || this.#compacting) return;
    for (const cls of this.#c.classes) {
      if (cls.deletesSinceCompact < after) continue;
      cls.deletesSinceCompact = 0;
      this.#compacting = true;
      const start = Buffer.from(cls.db.prefix);
      const end = this.#c.recordKey(cls, cls.head);
      this.#c.db
        .compactRange<Buffer>(start, end, { keyEncoding: 'buffer' })
        .catch((e: unknown) => this.#c.log.warn({ err: e }, 'compaction failed'))
        .finally(() => {
          this.#compacting = false;
          this.maybeCompact();
        });
      return;
    }
  }

  private notifyIdle(): void {
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const fn of w) fn();
  }

  /** Resolves when every queued write is on disk. */
  async drain(): Promise<void> {
    if (!this.#writing && !this.#scheduled && this.#units.length === 0 && this.#extraOps.length === 0) return;
    await new Promise<void>((r) => this.#idleWaiters.push(r));
  }
}
