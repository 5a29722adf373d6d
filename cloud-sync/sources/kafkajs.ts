// KafkaSource on kafkajs 2.2: a consumer group with manual commits, each offset committed after its record was handled.
import { EventEmitter } from 'node:events';
import { type Consumer, type IHeaders, Kafka, type KafkaMessage } from 'kafkajs';
import { kafkajsConfig } from '../sinks/kafkajs-connection.ts';
import type { KafkaSource, KafkaSourceOptions, RecordHandler, SourceEvents, SourceRecord } from './types.ts';

type State = ReturnType<KafkaSource['health']>['state'];

function headersOf(h: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [name, v] of Object.entries(h ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[name] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}

export class KafkajsSource extends EventEmitter<SourceEvents> implements KafkaSource {
  readonly name = 'kafkajs';
  readonly #o: KafkaSourceOptions;
  #consumer: Consumer | undefined;
  #state: State = 'stopped';
  #committed = 0;
  /** Set once the handler rejected or stop() began: no record is handed over after that. */
  #halted = false;
  #inflight: Promise<void> = Promise.resolve();

  constructor(o: KafkaSourceOptions) {
    super();
    this.#o = o;
  }

  async start(onRecord: RecordHandler): Promise<void> {
    const o = this.#o;
    this.#state = 'connecting';
    const kafka = new Kafka(kafkajsConfig(o, { retries: 5, initialRetryTime: 300, maxRetryTime: 10_000 }));
    const consumer = kafka.consumer({
      groupId: o.groupId,
      allowAutoTopicCreation: true,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (this.#halted) return;
      this.#state = 'up';
      this.emit('up');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      const err = e.payload.error instanceof Error ? e.payload.error : new Error(String(e.payload.error));
      // kafkajs restarts the consumer by itself after a retriable crash; otherwise it is done.
      if (this.#halted) return;
      if (e.payload.restart) {
        this.#state = 'down';
        this.emit('down', err);
      } else this.#crash(err);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...o.topics], fromBeginning: o.startAt === 'earliest' });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ topic, partition, message }) => {
        this.#inflight = this.#handle(consumer, onRecord, topic, partition, message);
        return this.#inflight;
      },
    });
  }

  async #handle(
    consumer: Consumer,
    onRecord: RecordHandler,
    topic: string,
    partition: number,
    m: KafkaMessage,
  ): Promise<void> {
    // Returning without a commit leaves the record for the next consumer of the group.
    if (this.#halted) return;
    const record: SourceRecord = {
      topic,
      partition,
      offset: m.offset,
      key: m.key ?? undefined,
      value: m.value ?? undefined,
      headers: headersOf(m.headers),
    };
    try {
      await onRecord(record);
    } catch (err) {
      this.#crash(err as Error);
      return;
    }
    // A failed commit rejects eachMessage: kafkajs hands the record over again.
    await consumer.commitOffsets([{ topic, partition, offset: (BigInt(m.offset) + 1n).toString() }]);
    this.#committed++;
  }

  #crash(err: Error): void {
    if (this.#halted) return;
    this.#halted = true;
    this.#state = 'crashed';
    this.emit('crash', err);
  }

  async stop(): Promise<void> {
    this.#halted = true;
    await this.#inflight.catch(() => {});
    await this.#consumer?.disconnect().catch(() => {});
    this.#consumer = undefined;
    this.#state = 'stopped';
  }

  health(): ReturnType<KafkaSource['health']> {
    return { state: this.#state, committed: this.#committed };
  }
}
