// Partitions of the downlink group without a committed offset: where they start after a restart. A group without a
// committed offset for a partition starts it at `latest`, so a partition no command was ever consumed on would skip
// every command produced to it while the gateway was down (a SIGKILL, a power cut). The gateway keeps the time its
// group began consuming each topic (KafkaSourceOptions.since); before the consumer joins, each partition without a
// committed offset that has records from that time on gets the offset of the first of them committed for the group
// (ListOffsets by timestamp), so the consumer starts there. Records older than that time are never replayed.
// A partition whose committed offset Kafka dropped (offset retention, 7 days by default, ran out while the gateway was
// away) but for which the gateway kept its own position (the offset after the last record it handled) starts there
// instead: the commands already handled are not replayed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** The few admin calls this needs, from either client library. */
export interface OffsetAdmin {
  /** The group's committed offset of each partition of `topic`, -1n where there is none; empty without the topic. */
  committed(groupId: string, topic: string): Promise<Map<number, bigint>>;
  /**
   * Per partition of `topic`: the first offset whose record's timestamp is `ms` or later, the end offset, and the log's
   * start (its first offset still kept).
   */
  offsetsAt(topic: string, ms: number): Promise<Map<number, { at: bigint; end: bigint; start: bigint }>>;
  /** The group's state, as Kafka names it (Empty, Dead, Stable, ...), and its members' client ids. */
  groupState(groupId: string): Promise<{ state: string; clients: string[] }>;
  commit(groupId: string, topic: string, offsets: Map<number, bigint>): Promise<void>;
  close(): Promise<void>;
}

export interface ResumeOptions {
  groupId: string;
  /** The consumer's client id: members with it are left over by this gateway (killed), others are someone else. */
  clientId: string;
  /** By topic: the time (ms since the epoch) from which the group consumes it. */
  since: Readonly<Record<string, number>>;
  /** By topic and partition: the gateway's own position (the next offset to hand over), where it kept one. */
  positions?: ReadonlyMap<string, ReadonlyMap<number, bigint>>;
  /** How long to wait for a member of a killed consumer to leave the group (its session timeout, and some). */
  emptyWithinMs: number;
  log: Logger;
}

/** The group kept members past `emptyWithinMs`, some of another client id: another consumer of the group. */
export class GroupBusyError extends Error {}

const KEPT = "downlink: Kafka has no committed offset for a partition; it resumes at the gateway's own position";

const empty = (state: string): boolean => ['empty', 'dead'].includes(state.toLowerCase());

/**
 * Where a partition without a committed offset starts: after the last record handled where the gateway kept that (not
 * before the log's start: what retention deleted is gone), else at its first record from `since` on; undefined where
 * the end is right (nothing to hand over from there).
 */
function startOf(o: { at: bigint; end: bigint; start: bigint }, own: bigint | undefined): bigint | undefined {
  // An own position past the end: the topic was deleted and made anew; it says nothing of these records.
  if (own !== undefined && own <= o.end) {
    const from = own < o.start ? o.start : own;
    return from < o.end ? from : undefined;
  }
  return o.at >= 0n && o.at < o.end ? o.at : undefined;
}

/**
 * Commits, for each partition without a committed offset, the offset after the last record the gateway handled there
 * (its own position) or else the offset of its first record from `since` on. Returns the
 * number of partitions so set. The group must have no members for that: one left over by a killed consumer is waited
 * for (up to `emptyWithinMs`).
 */
export async function resumeUncommitted(admin: OffsetAdmin, o: ResumeOptions): Promise<number> {
  const plan = new Map<string, Map<number, bigint>>();
  for (const [topic, since] of Object.entries(o.since)) {
    // A topic not created yet has no partitions (no records to miss); the consumer creates it.
    const committed = await admin.committed(o.groupId, topic);
    const missing = [...committed].filter(([, offset]) => offset < 0n).map(([p]) => p);
    if (missing.length === 0) continue;
    const at = await admin.offsetsAt(topic, since);
    const own = o.positions?.get(topic);
    const set = new Map<number, bigint>();
    for (const p of missing) {
      const offsets = at.get(p);
      const from = offsets && startOf(offsets, own?.get(p));
      if (from !== undefined && own?.has(p)) o.log.info({ topic, partition: p, offset: from.toString() }, KEPT);
      // Nothing to hand over (nothing since `since`, or handled up to the end): `latest` is right already.
      if (from !== undefined) set.set(p, from);
    }
    if (set.size > 0) plan.set(topic, set);
  }
  if (plan.size === 0) return 0;
  const deadline = Date.now() + o.emptyWithinMs;
  for (;;) {
    const { state, clients } = await admin.groupState(o.groupId);
    if (empty(state)) break;
    if (Date.now() >= deadline) {
      const message = `the group ${o.groupId} still has members (state ${state}, clients ${clients.join(', ')})`;
      // Only this gateway's own left-overs: they go in time; fail this start (it is retried) rather than skip.
      if (clients.length > 0 && clients.every((c) => c === o.clientId)) throw new Error(message);
      throw new GroupBusyError(message);
    }
    await sleep(250);
  }
  let n = 0;
  for (const [topic, offsets] of plan) {
    await admin.commit(o.groupId, topic, offsets);
    n += offsets.size;
    o.log.info(
      { topic, partitions: Object.fromEntries([...offsets].map(([p, off]) => [p, off.toString()])) },
      'downlink: partitions without a committed offset start at the commands sent since the group began',
    );
  }
  return n;
}
