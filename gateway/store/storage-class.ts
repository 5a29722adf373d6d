// A storage class of the outbox (config `classes.<name>`): its records, drained to Kafka in sequence order, and the
// counters its budget is checked against. Only the store changes the counters, through the methods below.
import type { AbstractSublevel } from 'abstract-level';
import type { ClassicLevel } from 'classic-level';
import { SEQ_KEY_BYTES } from './seq-key.ts';

export type DropPolicy = 'drop-oldest' | 'reject';

export interface ClassBudget {
  maxBytes: number;
  /** 0 = no age limit. */
  maxAgeSec: number;
  policy: DropPolicy;
  /** `reject` only: the fraction of maxBytes one device may hold (absent or 1 = no per-device limit). */
  perDeviceShare?: number;
}

export type ClassDb = AbstractSublevel<ClassicLevel<string, string>, string | Buffer | Uint8Array, Buffer, Buffer>;

export type MetaDb = AbstractSublevel<ClassicLevel<string, string>, string | Buffer | Uint8Array, string, string>;

/** Persisted class counters (meta key `lane!<name>`), written in the same batch as the records they count. */
export interface ClassStats {
  bytes: number;
  count: number;
  /** Lower bound of the first sequence still in the class. */
  head: number;
}

/** Stored size of a record: its value and its sequence key. */
export function storedSize(value: Buffer): number {
  return value.length + SEQ_KEY_BYTES;
}

export class StorageClass {
  readonly name: string;
  readonly budget: ClassBudget;
  readonly db: ClassDb;
  #bytes = 0;
  #count = 0;
  #head = 0;
  /** Bytes accepted but not yet committed. */
  #pendingBytes = 0;
  /** Ingest time of the oldest record (0 = unknown or empty). */
  #oldestTs = 0;
  deletesSinceCompact = 0;

  constructor(name: string, budget: ClassBudget, db: ClassDb) {
    this.name = name;
    this.budget = budget;
    this.db = db;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get count(): number {
    return this.#count;
  }

  get head(): number {
    return this.#head;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Ingest time of the oldest record, refreshed whenever the store reads the class from its head. */
  get oldestTs(): number {
    return this.#oldestTs;
  }

  /** Bytes that count against the budget: committed plus accepted-but-pending. */
  get usedBytes(): number {
    return this.#bytes + this.#pendingBytes;
  }

  load(s: ClassStats): void {
    this.#bytes = s.bytes;
    this.#count = s.count;
    this.#head = s.head;
  }

  stats(): ClassStats {
    return { bytes: this.#bytes, count: this.#count, head: this.#head };
  }

  // --- written by the store only ----------------------------------------------------------------------------------

  /** A record of `size` bytes was queued for the next group commit. */
  queued(size: number): void {
    this.#pendingBytes += size;
  }

  /** A queued record was dropped before its commit (the store failed). */
  unqueued(size: number): void {
    this.#pendingBytes -= size;
  }

  /** A queued record is in the batch being written. */
  written(size: number, now: number): void {
    this.#pendingBytes -= size;
    this.#bytes += size;
    this.#count += 1;
    if (this.#oldestTs === 0) this.#oldestTs = now;
  }

  /** The batch holding a written record failed. */
  unwritten(size: number): void {
    this.#bytes -= size;
    this.#count -= 1;
  }

  /** Records were removed; the head moves past `last`. */
  removed(bytes: number, count: number, last: number | undefined): void {
    if (last !== undefined && last + 1 > this.#head) this.#head = last + 1;
    this.#bytes -= bytes;
    this.#count -= count;
  }

  setOldest(ts: number): void {
    this.#oldestTs = ts;
  }
}
