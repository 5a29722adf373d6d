// Cloud-to-device commands: consumes the command topics and publishes each record to the device over MQTT. The
// consumer offset is committed only after the broker took the message (for a persistent session that means it is in
// the session's offline queue in LevelDB), so a crash re-delivers rather than loses: at-least-once downward too.
// Record: key = device id; value = payload; optional header `mqtt.topic` overrides the topic template.
import { type Consumer, Kafka, logLevel, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import type { GatewayBus } from '../gateway/bus.ts';
import type { KafkaConnection } from './kafka-connection.ts';
import { HEADER } from './record.ts';

export interface DownlinkOptions {
  brokers: readonly string[];
  clientId: string;
  groupId: string;
  topics: readonly string[];
  mqttTopic: string;
  qos: 0 | 1 | 2;
  /** TLS and SASL from kafkaConnection() (cloud-sync/kafka-connection.ts), as the forwarder's sinks get them. */
  tls: KafkaConnection['tls'];
  sasl: KafkaConnection['sasl'];
  bus: GatewayBus;
  log: Logger;
}

export class Downlink {
  readonly name = 'downlink';
  private readonly o: DownlinkOptions;
  private consumer: Consumer | undefined;
  state: 'stopped' | 'connecting' | 'up' | 'down' = 'stopped';
  delivered = 0;
  invalid = 0;
  lastError = '';
  private retry: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(o: DownlinkOptions) {
    this.o = o;
  }

  start(): void {
    this.stopping = false;
    // Kafka may be unreachable at boot: connect in the background and retry, never block the gateway's start.
    this.connect();
  }

  private connect(): void {
    this.state = 'connecting';
    const kafka = new Kafka({
      clientId: `${this.o.clientId}-downlink`,
      brokers: [...this.o.brokers],
      ssl: this.o.tls ?? false,
      ...(this.o.sasl ? { sasl: this.o.sasl as SASLOptions } : {}),
      connectionTimeout: 5000,
      logLevel: logLevel.NOTHING,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    const consumer = kafka.consumer({ groupId: this.o.groupId, allowAutoTopicCreation: true });
    this.consumer = consumer;
    // Commands only flow once the group has partitions; health says `up` from then on.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.state = 'up';
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.state = 'down';
      this.lastError = String(e.payload.error?.message ?? e.payload.error);
    });
    const run = async (): Promise<void> => {
      await consumer.connect();
      // A new group starts at the end of the topics: a gateway's first start must not replay old commands (think
      // "unlock"). From then on the committed offsets carry commands sent while the gateway was down.
      await consumer.subscribe({ topics: [...this.o.topics], fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          await this.deliver(message.key, message.value, message.headers?.[HEADER.topic]);
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        },
      });
      this.o.log.info({ topics: this.o.topics }, 'downlink consuming cloud commands');
    };
    run().catch((err: unknown) => {
      this.state = 'down';
      this.lastError = (err as Error).message;
      this.o.log.warn({ err: this.lastError }, 'downlink cannot reach Kafka; retrying');
      consumer.disconnect().catch(() => {});
      if (!this.stopping) this.retry = setTimeout(() => this.connect(), 5000);
    });
  }

  private async deliver(
    key: Buffer | null,
    value: Buffer | null,
    topicHeader: Buffer | string | (Buffer | string)[] | undefined,
  ): Promise<void> {
    const device = key?.toString() ?? '';
    const header = Array.isArray(topicHeader) ? topicHeader[0] : topicHeader;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${key}` is the config's placeholder, not a template.
    const topic = header ? header.toString() : this.o.mqttTopic.replaceAll('${key}', device);
    if (!topic || topic.includes('#') || topic.includes('+') || (!header && !device)) {
      // Not deliverable: count it and move on rather than block the partition forever.
      this.invalid++;
      this.o.log.warn({ device, topic }, 'downlink record without a usable device key or topic; skipped');
      return;
    }
    await this.o.bus.publish(
      { topic, payload: value ?? Buffer.alloc(0), qos: this.o.qos, clientId: '$cloud' },
      { toRoutes: false },
    );
    this.delivered++;
  }

  health(): Record<string, unknown> {
    return {
      state: this.state,
      delivered: this.delivered,
      invalid: this.invalid,
      lastError: this.lastError || undefined,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retry) clearTimeout(this.retry);
    await this.consumer?.disconnect().catch(() => {});
    this.state = 'stopped';
  }
}
