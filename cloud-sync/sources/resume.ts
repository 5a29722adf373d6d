// Partitions of the downlink group without a committed offset: where they start after a restart. A group without a
// committed offset for a partition starts it at `latest`, so a partition no command was ever consumed on would skip
// every command produced to it while the gateway was down (a SIGKILL, a power cut). The gateway keeps the time its
// group began consuming each topic (KafkaSourceOptions.since); before the consumer joins, each partition without a
// committed offset that has records from that time on gets the offset of the first of them committed for the group
// (ListOffsets by timestamp), so the consumer starts there. Records older than that time are never replayed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** The few admin calls this needs, from either client library. */
export interface OffsetAdmin {
  /** The group's committed offset of each partition of `topic`, -1n where there is none; empty without the topic. */
  committed(groupId: string, topic: string): Promise<Map<number, bigint>>;
  /** Per partition of `topic`: the first offset whose record's timestamp is `ms` or later, and the end offset. */
  offsetsAt(topic: string, ms: number): Promise<Map<number, { at: bigint; end: bigint }>>;
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
  /** How long to wait for a member of a killed consumer to leave the group (its session timeout, and some). */
  emptyWithinMs: number;
  log: Logger;
}

/** The group kept members past `emptyWithinMs`, some of another client id: another consumer of the group. */
export class GroupBusyError extends Error {}

const empty = (state: string): boolean => ['empty', 'dead'].includes(state.toLowerCase());

/**
 * Commits, for each partition without a committed offset, the offset of its first record from `since` on. Returns the
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
    const set = new Map<number, bigint>();
    for (const p of missing) {
      const o = at.get(p);
      // Nothing from `since` on (at = end): `latest` is right already.
      if (o && o.at >= 0n && o.at < o.end) set.set(p, o.at);
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
