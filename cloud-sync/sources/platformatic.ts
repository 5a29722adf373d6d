// KafkaSource on @platformatic/kafka 2: a consumer group stream without autocommit, each offset committed after its
// record was handled, records taken one at a time from the stream.
import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka';
import { platformaticOptions } from '../sinks/platformatic-connection.ts';
import { SourceBase } from './base.ts';
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
      await this.handle(toRecord(m), onRecord, () => m.commit());
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
