// An independent reader of the uplink topics (kafkajs, a fresh consumer group reading from the beginning). It shares
// no code with the gateway's forwarder on purpose: losses are counted from the outside.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { type IHeaders, Kafka, logLevel } from 'kafkajs';
import { quietNegativeTimeouts } from '../cloud-sync/kafkajs-timers.ts';
import type { ObservedRecord } from './analyze.ts';
import { parseSimPayload } from './payload.ts';

/** Header names of the gateway's records (cloud-sync/record.ts); repeated here so the reader stays independent. */
const MSG_ID_HEADER = 'gateway.msg_id';

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
  const records: ObservedRecord[] = [];
  const position = new Map<string, number>();
  let undecodable = 0;
  let reread = 0;
  let lastActivity = Date.now();
  let complete = false;

  await admin.connect();
  if (opts.fromTimestamp !== undefined) {
    // A fresh group's committed offsets decide where it starts; set them before the consumer joins.
    for (const topic of opts.topics) {
      const partitions = await admin.fetchTopicOffsetsByTimestamp(topic, opts.fromTimestamp).catch(() => undefined);
      if (partitions?.length) await admin.setOffsets({ groupId, topic, partitions });
    }
  }
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: opts.topics, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        const at = `${batch.topic}:${batch.partition}`;
        const next = position.get(at) ?? 0;
        for (const m of batch.messages) {
          // A rebalance or a retried fetch hands this reader records it has already seen: the same offset is the same
          // record, not a duplicate in Kafka.
          if (Number(m.offset) < next) {
            reread++;
            continue;
          }
          const f = decodeValue(m.value);
          if (!f) {
            undecodable++;
            continue;
          }
          const msgId = header(m.headers, MSG_ID_HEADER);
          records.push({
            device: f.device,
            seq: f.seq,
            run: f.run,
            topic: batch.topic,
            partition: batch.partition,
            offset: Number(m.offset),
            timestamp: Number(m.timestamp),
            consumedAt: now,
            ...(msgId !== undefined ? { msgId } : {}),
            ...(Number.isFinite(f.ts) ? { payloadTs: f.ts } : {}),
          });
        }
        if (batch.messages.length) {
          lastActivity = now;
          position.set(at, Math.max(next, Number(batch.lastOffset()) + 1));
          opts.onProgress?.(records.length);
        }
        if (!complete) complete = opts.isComplete(records);
      },
    });
    complete = opts.isComplete(records);
    for (;;) {
      if (opts.signal?.aborted) break;
      // Complete means every acked message was seen; read on to the current end so late duplicates count too.
      if (complete && (await caughtUp())) return finish('complete');
      if (Date.now() - lastActivity > opts.idleTimeoutMs) return finish('idle-timeout');
      await delay(200);
    }
    return finish('idle-timeout');
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }

  async function caughtUp(): Promise<boolean> {
    for (const topic of opts.topics) {
      let offsets: { partition: number; high: string; low: string }[];
      try {
        offsets = await admin.fetchTopicOffsets(topic);
      } catch {
        return false;
      }
      for (const o of offsets) {
        const high = Number(o.high);
        if (high > Number(o.low) && (position.get(`${topic}:${o.partition}`) ?? 0) < high) return false;
      }
    }
    return true;
  }

  function finish(stoppedBy: ReadResult['stoppedBy']): ReadResult {
    return { records: records.slice(), undecodable, reread, stoppedBy, readMs: Date.now() - started };
  }
}
