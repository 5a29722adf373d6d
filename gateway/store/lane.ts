// An outbox lane: the records of one budget class, drained to Kafka in sequence order.
import type { AbstractSublevel } from 'abstract-level';
import type { ClassicLevel } from 'classic-level';

export type DropPolicy = 'drop-oldest' | 'reject';

export interface ClassBudget {
  maxBytes: number;
  /** 0 = no age limit. */
  maxAgeSec: number;
  policy: DropPolicy;
  /** `reject` only: the fraction of maxBytes one device may hold (absent or 1 = no per-device limit). */
  perDeviceShare?: number;
}

export type LaneDb = AbstractSublevel<ClassicLevel<string, string>, string | Buffer | Uint8Array, Buffer, Buffer>;

/** Persisted lane counters (meta key `lane!<name>`), written in the same batch as the records they count. */
export interface LaneStats {
  bytes: number;
  count: number;
  /** Lower bound of the first sequence still in the lane. */
  head: number;
}

export class Lane {
  readonly name: string;
  readonly budget: ClassBudget;
  readonly db: LaneDb;
  bytes = 0;
  count = 0;
  head = 0;
  /** Bytes accepted but not yet committed. */
  pendingBytes = 0;
  /** Ingest time of the oldest record, refreshed by the forwarder and the budget sweep (0 = unknown/empty). */
  oldestTs = 0;
  deletesSinceCompact = 0;

  constructor(name: string, budget: ClassBudget, db: LaneDb) {
    this.name = name;
    this.budget = budget;
    this.db = db;
  }

  load(s: LaneStats): void {
    this.bytes = s.bytes;
    this.count = s.count;
    this.head = s.head;
  }

  stats(): LaneStats {
    return { bytes: this.bytes, count: this.count, head: this.head };
  }

  /** Bytes that count against the budget: committed plus accepted-but-pending. */
  get usedBytes(): number {
    return this.bytes + this.pendingBytes;
  }
}

export type MetaDb = AbstractSublevel<ClassicLevel<string, string>, string | Buffer | Uint8Array, string, string>;
