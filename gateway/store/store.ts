// The one LevelDB of the gateway: broker state, outbox lanes, flow journal and meta, split
// with sublevels. Every write goes through one writer that group-commits: one batch (fsync'd in `fsync` mode) covers
// every append that arrived while the previous batch was being written, then all their callbacks run. That is
// where a device's PUBACK is released, so it never precedes durability (promise 1 and 2).
import { randomBytes } from 'node:crypto';
import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.ts';
import { type ClassBudget, Lane, type LaneDb, type LaneStats, type MetaDb } from './lane.ts';

export type Durability = 'fsync' | 'os';

export interface StoreOptions {
  dir: string;
  durability: Durability;
  groupCommit: { maxRecords: number; windowMs: number };
  compactAfterDeletes: number;
  classes: Readonly<Record<string, ClassBudget>>;
  /** Records above this size are refused: Kafka would never accept them (0 = no limit). */
  maxRecordBytes?: number;
  log: Logger;
}

/** A write on the root database with the sublevel prefix already in the key: no per-op transcoding at commit. */
type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export type JournalDb = LaneDb;

/** One ingested message: its outbox records and journal entries, committed atomically. */
export interface IngestUnit {
  appends: { lane: Lane; seq: number; value: Buffer }[];
  journal: { key: Buffer; value: Buffer }[];
  cb: (err: Error | null) => void;
}

export type DropReason = 'budget' | 'ttl' | 'rejected' | 'too_large' | 'device_share';

export interface StoreEvents {
  onCommit?: (records: number, units: number) => void;
  onDrop?: (lane: string, reason: DropReason, records: number, bytes: number) => void;
  /** A group commit failed (e.g. ENOSPC): its messages were not acknowledged, devices keep and resend them. */
  onWriteError?: (records: number, err: Error) => void;
  /**
   * The store cannot take writes any more. LevelDB is not safe to write to after a failed log write: seen here,
   * batches that "succeed" after ENOSPC on the same handle are missing after a reopen. Only a fresh open is.
   */
  onFatal?: (err: Error) => void;
}

const META_SEQ = 'seq';
const DEVICE_SEQ_BLOCK = 64;
const META_SCHEMA = 'schema';
/** Random id of this data dir, created with the store: part of every record id, so a wiped volume never reuses one. */
const META_EPOCH = 'epoch';
const SCHEMA_VERSION = '1';

export class Store {
  readonly opts: StoreOptions;
  db!: ClassicLevel<string, string>;
  meta!: MetaDb;
  journalDb!: JournalDb;
  readonly lanes = new Map<string, Lane>();
  events: StoreEvents = {};
  private seq = 0;
  /** This data dir's epoch (meta `epoch`): set in start(), new for every freshly created store. */
  epoch = '';
  /** True when start() created the epoch: the store is new (or older than epochs). */
  epochCreated = false;
  private journalPrefix = Buffer.alloc(0);
  private metaPrefix = '';
  private readonly lanePrefixes = new Map<Lane, Buffer>();
  private readonly deviceSeqs = new Map<string, number>();
  /** Per device, the highest sequence already reserved on disk (meta `dseq!<id>`). */
  private readonly deviceReserved = new Map<string, number>();
  /** Per `reject` lane with a per-device share: bytes each device holds (estimated, see admit). */
  private readonly deviceBytes = new Map<Lane, Map<string, number>>();
  private dirtyDevices = new Set<string>();
  private dirtyLanes = new Set<Lane>();
  private units: IngestUnit[] = [];
  private pendingRecords = 0;
  private extraOps: Op[] = [];
  private writing = false;
  private scheduled = false;
  private closed = true;
  private readonly appendListeners = new Set<(lane: Lane) => void>();
  private idleWaiters: (() => void)[] = [];
  commits = 0;
  writeErrors = 0;
  lastWriteError = '';
  /** Set by the first failed write: from then on nothing is written (or acknowledged) through this handle. */
  failed: Error | undefined;

  constructor(opts: StoreOptions) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    this.db = new ClassicLevel<string, string>(this.opts.dir, { createIfMissing: true });
    try {
      await this.db.open();
    } catch (err) {
      const locked = (err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED';
      throw new GatewayError(
        'GW_ERR_STORE',
        locked
          ? `data dir ${this.opts.dir} is in use by another gateway process`
          : `cannot open the store in ${this.opts.dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.meta = this.db.sublevel<string, string>('meta', { valueEncoding: 'utf8' });
    this.journalDb = this.db.sublevel<Buffer, Buffer>('journal', { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    this.journalPrefix = Buffer.from(this.journalDb.prefix);
    this.metaPrefix = this.meta.prefix;
    const schema = await this.meta.get(META_SCHEMA);
    if (schema !== undefined && schema !== SCHEMA_VERSION) {
      throw new GatewayError('GW_ERR_STORE', `store schema ${schema} is newer than this gateway understands`);
    }
    await this.meta.put(META_SCHEMA, SCHEMA_VERSION);
    const epoch = await this.meta.get(META_EPOCH);
    this.epochCreated = epoch === undefined;
    this.epoch = epoch ?? randomBytes(6).toString('hex');
    // Not synced by itself: LevelDB's log is append-only, so the first synced group commit (before any record using
    // the epoch is acknowledged) makes it durable too; an epoch lost before that was never used.
    if (this.epochCreated) await this.meta.put(META_EPOCH, this.epoch);
    this.seq = Number((await this.meta.get(META_SEQ)) ?? 0);
    for (const [name, budget] of Object.entries(this.opts.classes)) {
      const laneDb = this.db.sublevel<Buffer, Buffer>(`lane:${name}`, {
        keyEncoding: 'buffer',
        valueEncoding: 'buffer',
      });
      const lane = new Lane(name, budget, laneDb);
      const raw = await this.meta.get(`lane!${name}`);
      if (raw) lane.load(JSON.parse(raw) as LaneStats);
      this.lanes.set(name, lane);
      this.lanePrefixes.set(lane, Buffer.from(laneDb.prefix));
    }
    for await (const [k, v] of this.meta.iterator({ gte: 'dseq!', lt: 'dseq"' })) {
      // Resume after the reserved block: numbers handed out before a crash are never handed out again.
      const reserved = Number(String(v));
      this.deviceSeqs.set(String(k).slice(5), reserved);
      this.deviceReserved.set(String(k).slice(5), reserved);
    }
    this.closed = false;
  }

  /** Root key of a lane record: the lane's sublevel prefix, then the 8-byte sequence. */
  private laneKey(lane: Lane, seq: number): Buffer {
    const prefix = this.lanePrefixes.get(lane) as Buffer;
    const k = Buffer.allocUnsafe(prefix.length + 8);
    prefix.copy(k, 0);
    k.writeUInt16BE(Math.floor(seq / 2 ** 48), prefix.length);
    k.writeUIntBE(seq % 2 ** 48, prefix.length + 2, 6);
    return k;
  }

  /** The sublevel aedes keeps its sessions, subscriptions, retained messages and offline queues in. */
  brokerDb(): MetaDb {
    return this.db.sublevel<string, string>('broker', {});
  }

  get lastSeq(): number {
    return this.seq;
  }

  nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  nextDeviceSeq(deviceId: string): number {
    const n = (this.deviceSeqs.get(deviceId) ?? 0) + 1;
    this.deviceSeqs.set(deviceId, n);
    // Per-device sequences are reserved in blocks, so a commit writes a device's counter once per block rather than
    // once per commit: fewer writes per batch (and less flash wear). After a crash a device's numbers jump to the end
    // of its block: they stay unique and increasing, with a gap.
    if (n > (this.deviceReserved.get(deviceId) ?? 0)) {
      this.deviceReserved.set(deviceId, n + DEVICE_SEQ_BLOCK - 1);
      this.dirtyDevices.add(deviceId);
    }
    return n;
  }

  lane(name: string): Lane | undefined {
    return this.lanes.get(name);
  }

  /**
   * Checks a lane's budget for one more record of `size` bytes from `deviceId`; throws when the policy refuses it.
   * A `reject` lane with a per-device share also refuses a device over its share, so one device filling the lane
   * cannot stop the other devices' acknowledgements.
   */
  admit(lane: Lane, size: number, deviceId?: string): void {
    const { maxBytes, policy } = lane.budget;
    const maxRecord = this.opts.maxRecordBytes ?? 0;
    if (size > maxBytes || (maxRecord > 0 && size > maxRecord)) {
      this.events.onDrop?.(lane.name, 'too_large', 1, size);
      throw new GatewayError(
        'GW_ERR_TOO_LARGE',
        `record of ${size} bytes exceeds ${size > maxBytes ? `class ${lane.name} budget` : `kafka.maxRecordBytes (${maxRecord})`}`,
      );
    }
    if (policy === 'reject' && lane.usedBytes + size > maxBytes) {
      this.events.onDrop?.(lane.name, 'rejected', 1, size);
      throw new GatewayError(
        'GW_ERR_BUFFER_FULL',
        `class ${lane.name} is full (${lane.usedBytes} of ${maxBytes} bytes)`,
      );
    }
    const share = lane.budget.perDeviceShare ?? 1;
    if (policy !== 'reject' || share >= 1 || deviceId === undefined) return;
    let held = this.deviceBytes.get(lane);
    if (!held) {
      held = new Map();
      this.deviceBytes.set(lane, held);
    }
    const mine = (held.get(deviceId) ?? 0) + size;
    if (mine > share * maxBytes) {
      this.events.onDrop?.(lane.name, 'device_share', 1, size);
      throw new GatewayError(
        'GW_ERR_DEVICE_SHARE',
        `device ${JSON.stringify(deviceId)} holds its share of class ${lane.name} (${Math.round(share * 100)}% of ${maxBytes} bytes)`,
      );
    }
    held.set(deviceId, mine);
  }

  /**
   * The lane drains oldest first and its records are not read back to learn their device, so what each device holds
   * shrinks in proportion as the lane drains: exact while Kafka is away, an estimate once it drains. Records kept from
   * before a restart count for the lane, not for a device.
   */
  private releaseShares(lane: Lane, before: number): void {
    const held = this.deviceBytes.get(lane);
    if (!held || held.size === 0) return;
    const factor = before > 0 ? Math.max(0, lane.bytes) / before : 0;
    for (const [device, bytes] of held) {
      const left = Math.floor(bytes * factor);
      if (left <= 0) held.delete(device);
      else held.set(device, left);
    }
  }

  /** Queues a unit for the next group commit; `unit.cb` runs once it is on disk (or failed). */
  ingest(unit: IngestUnit): void {
    if (this.closed || this.failed) {
      unit.cb(
        this.failed
          ? new GatewayError('GW_ERR_STORE', `the store failed: ${this.failed.message}`, { cause: this.failed })
          : new GatewayError('GW_ERR_STORE_CLOSED', 'the store is closed'),
      );
      return;
    }
    for (const a of unit.appends) a.lane.pendingBytes += a.value.length + 8;
    this.units.push(unit);
    this.pendingRecords += unit.appends.length + unit.journal.length;
    this.schedule();
  }

  /** Removes records the forwarder has delivered (or the budget dropped). Not fsync'd: a lost delete only resends. */
  removeFromLane(lane: Lane, seqs: readonly number[], sizes: readonly number[], reason?: DropReason): void {
    let bytes = 0;
    let count = 0;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i] as number;
      if (seq < lane.head) continue; // already removed by a budget drop
      this.extraOps.push({ type: 'del', key: this.laneKey(lane, seq) });
      bytes += sizes[i] as number;
      count += 1;
    }
    const last = seqs[seqs.length - 1];
    if (last !== undefined && last + 1 > lane.head) lane.head = last + 1;
    const before = lane.bytes;
    lane.bytes -= bytes;
    lane.count -= count;
    if (bytes > 0) this.releaseShares(lane, before);
    lane.deletesSinceCompact += count;
    this.dirtyLanes.add(lane);
    if (reason && count > 0) this.events.onDrop?.(lane.name, reason, count, bytes);
    this.schedule();
  }

  removeJournal(keys: readonly Buffer[]): void {
    for (const key of keys) this.extraOps.push({ type: 'del', key: Buffer.concat([this.journalPrefix, key]) });
    this.schedule();
  }

  onAppend(fn: (lane: Lane) => void): () => void {
    this.appendListeners.add(fn);
    return () => this.appendListeners.delete(fn);
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    const w = this.opts.groupCommit.windowMs;
    if (w > 0 && this.pendingRecords < this.opts.groupCommit.maxRecords) setTimeout(() => this.flush(), w);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.writing) return;
    if (this.failed) {
      this.failPending();
      return;
    }
    if (this.units.length === 0 && this.extraOps.length === 0 && this.dirtyLanes.size === 0) {
      this.notifyIdle();
      return;
    }
    this.writing = true;
    // Take whole units up to maxRecords: a unit's records and journal entries commit together.
    const max = this.opts.groupCommit.maxRecords;
    let take = 0;
    let recs = 0;
    while (take < this.units.length && (recs < max || take === 0)) {
      const u = this.units[take] as IngestUnit;
      recs += u.appends.length + u.journal.length;
      take++;
    }
    const units = take === this.units.length ? this.units : this.units.slice(0, take);
    this.units = take === this.units.length ? [] : this.units.slice(take);
    this.pendingRecords -= recs;
    const ops: Op[] = this.extraOps;
    this.extraOps = [];
    const touched = new Set<Lane>();
    let maxSeq = -1;
    for (const u of units) {
      for (const a of u.appends) {
        ops.push({ type: 'put', key: this.laneKey(a.lane, a.seq), value: a.value });
        const size = a.value.length + 8;
        a.lane.pendingBytes -= size;
        a.lane.bytes += size;
        a.lane.count += 1;
        if (a.lane.oldestTs === 0) a.lane.oldestTs = Date.now();
        touched.add(a.lane);
        if (a.seq > maxSeq) maxSeq = a.seq;
      }
      for (const j of u.journal)
        ops.push({ type: 'put', key: Buffer.concat([this.journalPrefix, j.key]), value: j.value });
    }
    const metaOps: { type: 'put'; key: string; value: string }[] = [
      { type: 'put', key: META_SEQ, value: String(this.seq) },
    ];
    for (const lane of touched) this.dirtyLanes.add(lane);
    for (const lane of this.dirtyLanes) {
      metaOps.push({ type: 'put', key: `lane!${lane.name}`, value: JSON.stringify(lane.stats()) });
    }
    this.dirtyLanes = new Set();
    for (const d of this.dirtyDevices) {
      metaOps.push({ type: 'put', key: `dseq!${d}`, value: String(this.deviceReserved.get(d)) });
    }
    this.dirtyDevices = new Set();
    const sync = this.opts.durability === 'fsync' && units.length > 0;
    for (const m of metaOps) {
      ops.push({ type: 'put', key: Buffer.from(this.metaPrefix + m.key), value: Buffer.from(m.value) });
    }
    this.db.batch<Buffer, Buffer>(ops, { keyEncoding: 'buffer', valueEncoding: 'buffer', sync }).then(
      () => this.committed(units, recs, touched, null),
      (err: unknown) => this.committed(units, recs, touched, err as Error),
    );
  }

  private committed(units: IngestUnit[], recs: number, touched: Set<Lane>, err: Error | null): void {
    this.writing = false;
    this.commits += 1;
    if (err) {
      this.writeErrors += 1;
      this.lastWriteError = err.message;
      this.failed = err;
      this.events.onWriteError?.(recs, err);
      this.opts.log.error(
        { err: err.message, records: recs },
        'store write failed; those messages are not acknowledged',
      );
      const e = new GatewayError('GW_ERR_STORE', `store write failed: ${err.message}`, { cause: err });
      for (const u of units) {
        for (const a of u.appends) {
          a.lane.bytes -= a.value.length + 8;
          a.lane.count -= 1;
        }
        u.cb(e);
      }
      this.failPending();
      this.events.onFatal?.(err);
    } else {
      this.events.onCommit?.(recs, units.length);
      for (const u of units) u.cb(null);
      for (const lane of touched) for (const fn of this.appendListeners) fn(lane);
      this.maybeCompact();
    }
    if (this.units.length > 0 || this.extraOps.length > 0 || this.dirtyLanes.size > 0) this.schedule();
    else this.notifyIdle();
  }

  /** Fails everything still queued once the store has failed: none of it may be acknowledged. */
  private failPending(): void {
    const err = new GatewayError('GW_ERR_STORE', `the store failed: ${this.failed?.message}`, { cause: this.failed });
    const units = this.units;
    this.units = [];
    this.extraOps = [];
    this.pendingRecords = 0;
    for (const u of units) {
      for (const a of u.appends) a.lane.pendingBytes -= a.value.length + 8;
      u.cb(err);
    }
    this.notifyIdle();
  }

  private maybeCompact(): void {
    for (const lane of this.lanes.values()) {
      if (lane.deletesSinceCompact < this.opts.compactAfterDeletes) continue;
      lane.deletesSinceCompact = 0;
      // After many deletes the head of the lane is a field of tombstones; compaction keeps seeks from it fast.
      const prefix = lane.db.prefix;
      const end = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
      this.db.compactRange(prefix, end).catch((err: unknown) => this.opts.log.warn({ err }, 'compaction failed'));
    }
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const fn of w) fn();
  }

  /** Resolves when every queued write is on disk. */
  async drain(): Promise<void> {
    if (!this.writing && !this.scheduled && this.units.length === 0 && this.extraOps.length === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    if (!this.failed) await this.drain();
    this.closed = true;
    await this.db.close();
  }
}
