// An independent reader of the uplink topics (kafkajs, a fresh consumer group reading from the beginning). It shares
// no code with the gateway's forwarder on purpose: losses are counted from the outside.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { type Admin, type Batch, type IHeaders, Kafka, logLevel } from 'kafkajs';
import { quietNegativeTimeouts } from '../cloud-sync/kafkajs-timers.ts';
import type { ObservedRecord } from './analyze.ts';
import { parseSimPayload } from './payload.ts';

/** Header names of the gateway's records (cloud-sync/record.ts); repeated here so the reader stays independent. */
const MSG_ID_HEADER = 'gateway.msg_id';
const GATEWAY_ID_HEADER = 'gateway.id';

export interface ReadOptions {
  brokers: string[];
  topics: string[];
  /** Stop when nothing new arrived for this long (ms) and the reader is not complete. */
  idleTimeoutMs: number;
  /** Asked after each batch: true when every record the caller waits for has been seen. */
  isComplete: (records: readonly ObservedRecord[]) => boolean;
  onProgress?: (n: number) => void;
  signal?: AbortSignal;
  /** Start at the first record with a timestamp at or after this (ms) instead of the beginning of each partition. */
  fromTimestamp?: number;
  /** Keep each record's `gateway.id` header (a fleet of gateways into one topic); off, it costs nothing per record. */
  gatewayIds?: boolean;
}

export interface ReadResult {
  records: ObservedRecord[];
  undecodable: number;
  /** Records handed to the reader again at an offset it had already read (a rebalance); counted once. */
  reread: number;
  stoppedBy: 'complete' | 'idle-timeout';
  readMs: number;
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/**
 * The simulator's fields from a record value: the raw payload, or an `envelope` JSON
 * ({client_id, username, topic, payload: base64, qos, node, ts}) whose payload is the raw one.
 */
export function decodeValue(value: Buffer | null): ReturnType<typeof parseSimPayload> {
  if (!value) return undefined;
  const direct = parseSimPayload(value);
  if (direct) return direct;
  let env: unknown;
  try {
    env = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof env !== 'object' || env === null) return undefined;
  const payload = (env as Record<string, unknown>).payload;
  if (typeof payload !== 'string') return undefined;
  return parseSimPayload(Buffer.from(payload, 'base64'));
}

/** What the reader has seen: the records, each partition's next offset, and when something last arrived. */
class ReadState {
  readonly records: ObservedRecord[] = [];
  readonly position = new Map<string, number>();
  undecodable = 0;
  reread = 0;
  lastActivity = Date.now();
  complete = false;
  /** An error of the reader's own code in a batch: the read stops with it instead of idling out. */
  failure: unknown;
  /** One string per gateway id however many records carry it. */
  private readonly gatewayIds = new Map<string, string>();

  private gatewayId(headers: IHeaders | undefined): string | undefined {
    const id = header(headers, GATEWAY_ID_HEADER);
    if (id === undefined) return undefined;
    const known = this.gatewayIds.get(id);
    if (known !== undefined) return known;
    this.gatewayIds.set(id, id);
    return id;
  }

  onBatch(batch: Batch, opts: ReadOptions): void {
    const now = Date.now();
    const at = `${batch.topic}:${batch.partition}`;
    const next = this.position.get(at) ?? 0;
    for (const m of batch.messages) {
      // A rebalance or a retried fetch hands this reader records it has already seen: the same offset is the same
      // record, not a duplicate in Kafka.
      if (Number(m.offset) < next) {
        this.reread++;
        continue;
      }
      const f = decodeValue(m.value);
      if (!f) {
        this.undecodable++;
        continue;
      }
      const msgId = header(m.headers, MSG_ID_HEADER);
      const gatewayId = opts.gatewayIds ? this.gatewayId(m.headers) : undefined;
      this.records.push({
        device: f.device,
        seq: f.seq,
        run: f.run,
        topic: batch.topic,
        partition: batch.partition,
        offset: Number(m.offset),
        timestamp: Number(m.timestamp),
        consumedAt: now,
        ...(msgId !== undefined ? { msgId } : {}),
        ...(gatewayId !== undefined ? { gatewayId } : {}),
        ...(Number.isFinite(f.ts) ? { payloadTs: f.ts } : {}),
      });
    }
    if (batch.messages.length) {
      this.lastActivity = now;
      this.position.set(at, Math.max(next, Number(batch.lastOffset()) + 1));
      opts.onProgress?.(this.records.length);
    }
    if (!this.complete) this.complete = opts.isComplete(this.records);
  }

  /** True when the reader reached the current end of every non-empty partition. */
  async caughtUp(admin: Admin, topics: string[]): Promise<boolean> {
    for (const topic of topics) {
      let offsets: { partition: number; high: string; low: string }[];
      try {
        offsets = await admin.fetchTopicOffsets(topic);
      } catch {
        return false;
      }
      for (const o of offsets) {
        const high = Number(o.high);
        if (high > Number(o.low) && (this.position.get(`${topic}:${o.partition}`) ?? 0) < high) return false;
      }
    }
    return true;
  }
}

/** A fresh group's committed offsets decide where it starts; set them before the consumer joins. */
async function startAt(admin: Admin, groupId: string, topics: string[], fromTimestamp: number): Promise<void> {
  for (const topic of topics) {
    const partitions = await admin.fetchTopicOffsetsByTimestamp(topic, fromTimestamp).catch(() => undefined);
    if (partitions?.length) await admin.setOffsets({ groupId, topic, partitions });
  }
}

function readFailure(cause: unknown): Error {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new Error(`reading Kafka failed in the reader itself: ${why}`, { cause });
}

export async function readTopics(opts: ReadOptions): Promise<ReadResult> {
  const started = Date.now();
  quietNegativeTimeouts();
  const kafka = new Kafka({
    clientId: 'device-sim-verify',
    brokers: opts.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 200 },
  });
  const admin = kafka.admin();
  const groupId = `device-sim-verify-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, maxWaitTimeInMs: 250 });
  const st = new ReadState();
  const finish = (stoppedBy: ReadResult['stoppedBy']): ReadResult => ({
    records: st.records.slice(),
    undecodable: st.undecodable,
    reread: st.reread,
    stoppedBy,
    readMs: Date.now() - started,
  });

  await admin.connect();
  if (opts.fromTimestamp !== undefined) await startAt(admin, groupId, opts.topics, opts.fromTimestamp);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: opts.topics, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (st.failure !== undefined) return;
        try {
          st.onBatch(batch, opts);
        } catch (err) {
          // Thrown back to kafkajs it would retry the batch for ever, and this partition would look idle.
          st.failure = err;
        }
      },
    });
    st.complete = opts.isComplete(st.records);
    for (;;) {
      if (opts.signal?.aborted) break;
      if (st.failure !== undefined) throw readFailure(st.failure);
      // Complete means every acked message was seen; read on to the current end so late duplicates count too.
      if (st.complete && (await st.caughtUp(admin, opts.topics))) return finish('complete');
      if (Date.now() - st.lastActivity > opts.idleTimeoutMs) return finish('idle-timeout');
      await delay(200);
    }
    return finish('idle-timeout');
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
