// What the store tells its listeners (metrics, the composition root, the forwarder, the budget keeper).
import type { DropReason } from './admission.ts';
import type { StorageClass } from './storage-class.ts';

export interface StoreEvents {
  /** A group commit is on disk: `records` outbox records and journal entries from `units` messages. */
  commit: [records: number, units: number];
  /** Records dropped or refused in a class, by reason. */
  drop: [cls: string, reason: DropReason, records: number, bytes: number];
  /** A group commit failed (e.g. ENOSPC): its messages were not acknowledged, devices keep and resend them. */
  writeError: [records: number, err: Error];
  /**
   * The store cannot take writes any more. LevelDB is not safe to write to after a failed log write: seen here,
   * batches that "succeed" after ENOSPC on the same handle are missing after a reopen. Only a fresh open is.
   */
  fatal: [err: Error];
  /** New records of a class are on disk (after the commit's callbacks ran). */
  append: [cls: StorageClass];
}
