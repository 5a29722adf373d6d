// KafkaSource on kafkajs 2.2: a consumer group with manual commits, each offset committed after its record was handled.
import { type Admin, type Consumer, type IHeaders, Kafka } from 'kafkajs';
import { kafkajsConfig } from '../sinks/kafkajs-connection.ts';
import { SourceBase } from './base.ts';
import type { OffsetAdmin } from './resume.ts';
import type { KafkaSource, KafkaSourceOptions, RecordHandler, SourceRecord } from './types.ts';

function headersOf(h: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [name, v] of Object.entries(h ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[name] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}

function offsetAdmin(admin: Admin): OffsetAdmin {
  let connected: Promise<void> | undefined;
  const ready = () => {
    connected ??= admin.connect();
    return connected;
  };
  return {
    async committed(groupId, topic) {
      await ready();
      if (!(await admin.listTopics()).includes(topic)) return new Map();
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    },
    async offsetsAt(topic, ms) {
      await ready();
      // kafkajs answers the end offset where no record is that recent.
      const at = await admin.fetchTopicOffsetsByTimestamp(topic, ms);
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p]));
      return new Map(
        at.map((p) => {
          const e = ends.get(p.partition);
          return [p.partition, { at: BigInt(p.offset), end: BigInt(e?.high ?? -1), start: BigInt(e?.low ?? 0) }];
        }),
      );
    },
    async groupState(groupId) {
      await ready();
      const { groups } = await admin.describeGroups([groupId]);
      return { state: groups[0]?.state ?? 'Dead', clients: (groups[0]?.members ?? []).map((m) => m.clientId) };
    },
    async commit(groupId, topic, offsets) {
      await ready();
      const partitions = [...offsets].map(([partition, offset]) => ({ partition, offset: offset.toString() }));
      await admin.setOffsets({ groupId, topic, partitions });
    },
    async close() {
      if (connected) await admin.disconnect();
    },
  };
}

export class KafkajsSource extends SourceBase implements KafkaSource {
  readonly name = 'kafkajs';
  readonly #o: KafkaSourceOptions;
  #consumer: Consumer | undefined;

  constructor(o: KafkaSourceOptions) {
    super();
    this.#o = o;
  }

  async start(onRecord: RecordHandler): Promise<void> {
    const o = this.#o;
    this.state = 'connecting';
    const kafka = new Kafka(kafkajsConfig(o, { retries: 5, initialRetryTime: 300, maxRetryTime: 10_000 }));
    await this.resume(o, () => offsetAdmin(kafka.admin()));
    if (this.halted) return;
    const consumer = kafka.consumer({
      groupId: o.groupId,
      allowAutoTopicCreation: true,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => this.joined());
    consumer.on(consumer.events.CRASH, (e) => {
      const err = e.payload.error instanceof Error ? e.payload.error : new Error(String(e.payload.error));
      // kafkajs restarts the consumer by itself after a retriable crash; otherwise it is done.
      if (e.payload.restart) this.lost(err);
      else this.crash(err);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...o.topics], fromBeginning: o.startAt === 'earliest' });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ topic, partition, message: m }) => {
        const record: SourceRecord = {
          topic,
          partition,
          offset: m.offset,
          key: m.key ?? undefined,
          value: m.value ?? undefined,
          headers: headersOf(m.headers),
        };
        // A failed commit rejects eachMessage: kafkajs hands the record over again.
        return this.handle(
          record,
          onRecord,
          () => consumer.commitOffsets([{ topic, partition, offset: (BigInt(m.offset) + 1n).toString() }]),
          o.positions,
        );
      },
    });
  }

  async stop(): Promise<void> {
    await this.halt();
    await this.#consumer?.disconnect().catch(() => {});
    this.#consumer = undefined;
    this.state = 'stopped';
  }
}
