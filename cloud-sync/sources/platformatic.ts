// KafkaSource on @platformatic/kafka 2: a consumer group stream without autocommit, each offset committed after its
// record was handled, records taken one at a time from the stream.
import { Admin, Consumer, type Message, type MessagesStream } from '@platformatic/kafka';
import { platformaticOptions } from '../sinks/platformatic-connection.ts';
import { SourceBase } from './base.ts';
import type { OffsetAdmin } from './resume.ts';
import type { KafkaSource, KafkaSourceOptions, RecordHandler, SourceRecord } from './types.ts';

type Msg = Message<Buffer, Buffer, Buffer, Buffer>;

function toRecord(m: Msg): SourceRecord {
  const headers: Record<string, Buffer> = {};
  for (const [k, v] of m.headerEntries ?? m.headers) {
    const name = k.toString();
    if (v !== undefined && !(name in headers)) headers[name] = v;
  }
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset.toString(),
    key: m.key ?? undefined,
    value: m.value ?? undefined,
    headers,
  };
}

function offsetAdmin(o: KafkaSourceOptions): OffsetAdmin {
  const admin = new Admin({ ...platformaticOptions(o), retries: 5, retryDelay: 300 });
  const partitions = async (topic: string): Promise<number[]> => {
    const meta = await admin.metadata({ topics: [topic] });
    const n = meta.topics.get(topic)?.partitionsCount ?? 0;
    return Array.from({ length: n }, (_, i) => i);
  };
  const listed = async (topic: string, timestamp: bigint): Promise<Map<number, bigint>> => {
    const req = (await partitions(topic)).map((partitionIndex) => ({ partitionIndex, timestamp }));
    const [t] = await admin.listOffsets({ topics: [{ name: topic, partitions: req }] });
    return new Map((t?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
  };
  return {
    async committed(groupId, topic) {
      if (!(await admin.listTopics()).includes(topic)) return new Map();
      const all = await partitions(topic);
      const [g] = await admin.listConsumerGroupOffsets({
        groups: [{ groupId, topics: [{ name: topic, partitionIndexes: all }] }],
      });
      const got = new Map(
        (g?.topics.find((t) => t.name === topic)?.partitions ?? []).map((p) => [p.partitionIndex, p.committedOffset]),
      );
      return new Map(all.map((p) => [p, got.get(p) ?? -1n]));
    },
    async offsetsAt(topic, ms) {
      // Timestamp -1: the end offset; -2: the log's start. Where no record is that recent, the answer is -1.
      const at = await listed(topic, BigInt(ms));
      const end = await listed(topic, -1n);
      const start = await listed(topic, -2n);
      return new Map([...end].map(([p, e]) => [p, { at: at.get(p) ?? -1n, end: e, start: start.get(p) ?? 0n }]));
    },
    async groupState(groupId) {
      const g = (await admin.describeGroups({ groups: [groupId] })).get(groupId);
      const state = String(g?.state ?? 'Dead').replaceAll('_', '');
      return { state, clients: [...(g?.members.values() ?? [])].map((m) => m.clientId) };
    },
    async commit(groupId, topic, offsets) {
      const partitionOffsets = [...offsets].map(([partition, offset]) => ({ partition, offset }));
      await admin.alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets }] });
    },
    close: () => admin.close(),
  };
}

export class PlatformaticSource extends SourceBase implements KafkaSource {
  readonly name = 'platformatic';
  readonly #o: KafkaSourceOptions;
  #consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;

  constructor(o: KafkaSourceOptions) {
    super();
    this.#o = o;
  }

  async start(onRecord: RecordHandler): Promise<void> {
    const o = this.#o;
    this.state = 'connecting';
    await this.resume(o, () => offsetAdmin(o));
    if (this.halted) return;
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...platformaticOptions(o),
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      autocommit: false,
      autocreateTopics: true,
      retries: 5,
      retryDelay: 300,
    });
    this.#consumer = consumer;
    consumer.on('consumer:group:join', () => this.joined());
    consumer.on('consumer:heartbeat:error', ({ error }) => this.lost(error));
    // A heartbeat that goes through again after failed ones: still in the group, no rejoin needed.
    consumer.on('consumer:heartbeat:end', () => {
      if (this.state === 'down') this.joined();
    });
    // A rejoin that failed: the consumer stays out of the group.
    consumer.on('error', (err: Error) => this.crash(err));
    const stream = await consumer.consume({
      topics: [...o.topics],
      mode: 'committed',
      fallbackMode: o.startAt,
      autocommit: false,
    });
    this.#stream = stream;
    stream.on('error', (err: Error) => this.crash(err));
    this.#consume(stream, onRecord).catch((err: unknown) => this.crash(err as Error));
  }

  async #consume(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, onRecord: RecordHandler): Promise<void> {
    for await (const m of stream as AsyncIterable<Msg>) {
      if (this.halted) return;
      await this.handle(toRecord(m), onRecord, () => m.commit(), this.#o.positions);
    }
  }

  async stop(): Promise<void> {
    await this.halt();
    await this.#stream?.close().catch(() => {});
    await this.#consumer?.close().catch(() => {});
    this.#stream = undefined;
    this.#consumer = undefined;
    this.state = 'stopped';
  }
}
