// The downlink's view of Kafka, beside the forwarder's KafkaSink: join a consumer group on some topics, hand each
// record over one at a time, and commit its offset only once the handler resolved for it — so a crash re-delivers
// rather than loses. One contract suite (test/integration/source-contract.test.ts) runs against each implementation.
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { KafkaClientOptions } from '../kafka-connection.ts';

export interface SourceRecord {
  topic: string;
  partition: number;
  /** The record's offset, as a decimal string. */
  offset: string;
  key: Buffer | undefined;
  value: Buffer | undefined;
  /** Header values by name; of a name set twice, the first. */
  headers: Record<string, Buffer>;
}

/** Where a group without committed offsets starts: at the end (new records only) or at the beginning. */
export type StartAt = 'latest' | 'earliest';

/** Brokers, TLS and SASL from kafkaConnection() (cloud-sync/kafka-connection.ts), plus the consumer's own. */
export interface KafkaSourceOptions extends KafkaClientOptions {
  groupId: string;
  topics: readonly string[];
  startAt: StartAt;
  /**
   * By topic, the time (ms since the epoch) the group began consuming it: before joining, partitions without a
   * committed offset that hold records from that time on start at the first of them instead of at `startAt`
   * (cloud-sync/sources/resume.ts). Absent or empty: `startAt` alone.
   */
  since?: Readonly<Record<string, number>>;
  /**
   * The gateway's own record of where it is in each partition, kept beside Kafka's committed offsets: a partition
   * whose committed offset Kafka no longer has (the group's offsets expired while the gateway was offline longer than
   * Kafka's offset retention) resumes after the last record handled rather than replaying from `since`.
   */
  positions?: SourcePositions;
  /**
   * How long the group keeps a member that stopped heartbeating: a killed consumer holds its partitions that long, so
   * it bounds how soon a restarted one gets them.
   */
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How long the coordinator waits for members to rejoin a rebalance. */
  rebalanceTimeoutMs: number;
  log: Logger;
}

/** Per topic and partition, the offset after the last record handled (kept by the downlink in the store). */
export interface SourcePositions {
  /** By partition of `topic`: the next offset to hand over. Empty when none was kept. */
  load(topic: string): Promise<Map<number, bigint>>;
  /** `record` was handled and its offset committed. Never rejects: a position not kept only means a replay. */
  save(record: SourceRecord): Promise<void>;
}

/** Hands one record over; resolving means done (its offset is committed), rejecting means not done. */
export type RecordHandler = (record: SourceRecord) => Promise<void>;

export interface SourceEvents {
  /** In the group with partitions assigned: records flow. */
  up: [];
  /** A problem the client rides over by itself (a lost heartbeat, a broker away): it rejoins and says `up` again. */
  down: [err: Error];
  /**
   * The source consumes no more: the handler rejected (that record and those after it stay uncommitted) or the
   * client gave up. stop() it; a new source resumes from the committed offsets.
   */
  crash: [err: Error];
}

export interface KafkaSource extends EventEmitter<SourceEvents> {
  readonly name: SourceName;
  /**
   * Connects, joins the group and starts handing records to `onRecord`, one at a time, in order per partition; each
   * record's offset is committed once `onRecord` resolved for it, before the next is handed over. Resolves once
   * consuming has started; rejects when Kafka cannot be reached (then stop() it).
   */
  start(onRecord: RecordHandler): Promise<void>;
  /** Waits for the record being handled (and its commit), leaves the group and disconnects. */
  stop(): Promise<void>;
  health(): { state: 'stopped' | 'connecting' | 'up' | 'down' | 'crashed'; committed: number };
}

export type SourceName = 'platformatic' | 'kafkajs';
