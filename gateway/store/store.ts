// The one LevelDB of the gateway, split with sublevels: the outbox (one sublevel per storage class), the flow
// journal, broker state (aedes' sessions, subscriptions, retained messages and offline queues) and meta (schema,
// epoch, sequences, class counters, gateway id). Every write goes through one group-committing writer
// (group-commit.ts); the outbox and the journal are the high-level ways in.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.ts';
import type { Part, PartHealth } from '../part.ts';
import { Admission } from './admission.ts';
import type { StoreEvents } from './events.ts';
import { type Durability, GroupCommit } from './group-commit.ts';
import { Journal } from './journal.ts';
import { Outbox } from './outbox.ts';
import { prefixedSeqKey } from './seq-key.ts';
import { Sequences } from './sequences.ts';
import { type ClassBudget, type ClassDb, type ClassStats, type MetaDb, StorageClass } from './storage-class.ts';

export type { DropReason } from './admission.ts';
export type { StoreEvents } from './events.ts';
export type { Durability } from './group-commit.ts';
export type { ClassBudget, MetaDb } from './storage-class.ts';

export interface StoreOptions {
  dir: string;
  durability: Durability;
  groupCommit: { maxRecords: number; windowMs: number };
  compactAfterDeletes: number;
  /** LevelDB's max_open_files (default here: 100): open table files, each mapped while open. */
  maxOpenFiles?: number;
  classes: Readonly<Record<string, ClassBudget>>;
  /** Records above this size are refused: Kafka would never accept them (0 = no limit). */
  maxRecordBytes?: number;
  log: Logger;
}

const META_SCHEMA = 'schema';
/** Random id of this data dir, created with the store: part of every record id, so a wiped volume never reuses one. */
const META_EPOCH = 'epoch';
const SCHEMA_VERSION = '1';
/** As the config's default (store.maxOpenFiles). */
const DEFAULT_MAX_OPEN_FILES = 100;

export interface StoreHealth extends PartHealth {
  durability: Durability;
  writeErrors: number;
  lastWriteError: string | undefined;
}

export class Store extends EventEmitter<StoreEvents> implements Part {
  readonly name = 'store';
  readonly opts: StoreOptions;
  #db: ClassicLevel<string, string> | undefined;
  /** Gateway-wide settings that live with the data (gateway id). */
  meta!: MetaDb;
  outbox!: Outbox;
  journal!: Journal;
  #writer: GroupCommit | undefined;
  /** This data dir's epoch (meta `epoch`): set in start(), new for every freshly created store. */
  epoch = '';
  /** True when start() created the epoch: the store is new (or older than epochs). */
  epochCreated = false;
  #closed = true;

  constructor(opts: StoreOptions) {
    super();
    this.opts = opts;
  }

  async start(): Promise<void> {
    const db = await this.open();
    this.#db = db;
    this.meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' });
    await this.loadMeta();
    const sequences = new Sequences();
    await sequences.load(this.meta);
    const classes = new Map<string, StorageClass>();
    const prefixes = new Map<StorageClass, Buffer>();
    for (const [name, budget] of Object.entries(this.opts.classes)) {
      // `lane:<name>` and `lane!<name>` are the on-disk names of a class's records and counters (format 1).
      const classDb: ClassDb = db.sublevel<Buffer, Buffer>(`lane:${name}`, {
        keyEncoding: 'buffer',
        valueEncoding: 'buffer',
      });
      const cls = new StorageClass(name, budget, classDb);
      const raw = await this.meta.get(`lane!${name}`);
      if (raw) cls.load(JSON.parse(raw) as ClassStats);
      classes.set(name, cls);
      prefixes.set(cls, Buffer.from(classDb.prefix));
    }
    const writer = new GroupCommit({
      db,
      durability: this.opts.durability,
      groupCommit: this.opts.groupCommit,
      compactAfterDeletes: this.opts.compactAfterDeletes,
      log: this.opts.log,
      events: this,
      sequences,
      classes: [...classes.values()],
      recordKey: (cls, seq) => prefixedSeqKey(prefixes.get(cls) as Buffer, seq),
      metaPrefix: this.meta.prefix,
    });
    this.#writer = writer;
    const journalDb: ClassDb = db.sublevel<Buffer, Buffer>('journal', {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    this.journal = new Journal(journalDb, writer);
    const admission = new Admission(this.opts.maxRecordBytes ?? 0, (...drop) => this.emit('drop', ...drop));
    this.outbox = new Outbox({
      classes,
      sequences,
      admission,
      writer,
      journal: this.journal,
      unavailable: () => this.unavailable(),
    });
    this.#closed = false;
  }

  private async open(): Promise<ClassicLevel<string, string>> {
    const db = new ClassicLevel<string, string>(this.opts.dir, {
      createIfMissing: true,
      maxOpenFiles: this.opts.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES,
    });
    try {
      await db.open();
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
    return db;
  }

  /** Checks the schema and reads (or creates) the epoch. */
  private async loadMeta(): Promise<void> {
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
  }

  private unavailable(): Error | undefined {
    const failed = this.#writer?.failed;
    if (failed) return new GatewayError('GW_ERR_STORE', `the store failed: ${failed.message}`, { cause: failed });
    if (this.#closed) return new GatewayError('GW_ERR_STORE_CLOSED', 'the store is closed');
    return undefined;
  }

  /** The sublevel aedes keeps its sessions, subscriptions, retained messages and offline queues in. */
  brokerDb(): MetaDb {
    return (this.#db as ClassicLevel<string, string>).sublevel<string, string>('broker', {});
  }

  /** Set by the first failed write: from then on nothing is written (or acknowledged) through this handle. */
  get failed(): Error | undefined {
    return this.#writer?.failed;
  }

  get writeErrors(): number {
    return this.#writer?.writeErrors ?? 0;
  }

  /** Resolves when every queued write is on disk. */
  async drain(): Promise<void> {
    await this.#writer?.drain();
  }

  async stop(): Promise<void> {
    if (this.#closed) return;
    if (!this.failed) await this.drain();
    this.#closed = true;
    await this.#db?.close();
  }

  health(): StoreHealth {
    return {
      state: this.failed ? 'down' : this.#closed ? 'stopped' : 'up',
      durability: this.opts.durability,
      writeErrors: this.writeErrors,
      lastWriteError: this.#writer?.lastWriteError || undefined,
    };
  }
}
