// One contract, every KafkaSource: records arrive with key, value and headers intact, in order per partition; only
// what the handler resolved is committed; a new source of the same group resumes at the committed offsets — nothing
// lost, nothing handed over again that was done; a fresh group starts where `startAt` says. Records are produced with
// the platformatic sink (3 partitions: the broker's default for new topics).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createSink } from '../../cloud-sync/sinks/index.ts';
import {
  createSource,
  type KafkaSource,
  type RecordHandler,
  type SourceName,
  type SourceRecord,
  type StartAt,
} from '../../cloud-sync/sources/index.ts';

const log = pino({ level: 'silent' });
const running: KafkaSource[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

async function produce(topic: string, from: number, count: number, keys = 6): Promise<void> {
  const brokers = inject('kafkaBrokers');
  const sink = await createSink('platformatic', {
    brokers,
    clientId: 'source-contract',
    compression: 'none',
    requestTimeoutMs: 10_000,
    tls: undefined,
    sasl: undefined,
    log,
  });
  await sink.connect();
  const records = [];
  for (let n = from; n < from + count; n++) {
    records.push({
      topic,
      key: Buffer.from(`dev-${n % keys}`),
      value: Buffer.from(JSON.stringify({ n })),
      headers: { 'mqtt.topic': Buffer.from(`devices/dev-${n % keys}/command`), 'gateway.seq': Buffer.from(String(n)) },
    });
  }
  // A topic's first send asks the broker to create it; until every broker knows it, the answer can be "Unknown topic"
  // (retriable in Kafka's terms). Send again a bounded number of times, as the gateway's forwarder would.
  for (let attempt = 1; ; attempt++) {
    try {
      await sink.send(records);
      break;
    } catch (err) {
      if (attempt >= 20 || !String(err).includes('Unknown topic')) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await sink.close();
}

async function start(name: SourceName, group: string, topic: string, startAt: StartAt, onRecord: RecordHandler) {
  const source = await createSource(name, {
    brokers: inject('kafkaBrokers'),
    clientId: 'source-contract',
    requestTimeoutMs: 10_000,
    tls: undefined,
    sasl: undefined,
    groupId: group,
    topics: [topic],
    startAt,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 1000,
    rebalanceTimeoutMs: 10_000,
    log,
  });
  running.push(source);
  await source.start(onRecord);
  return source;
}

const n = (r: SourceRecord): number => (JSON.parse(r.value?.toString() ?? '{}') as { n: number }).n;
const names = ['platformatic', 'kafkajs'] as const;

describe.each<SourceName>(names)('KafkaSource contract: %s', (name) => {
  const fresh = () => {
    const id = randomBytes(4).toString('hex');
    return { topic: `source.${name}.${id}`, group: `g-${name}-${id}` };
  };

  it('hands every record over with key, value and headers, in order per partition', async () => {
    const { topic, group } = fresh();
    await produce(topic, 0, 60);
    const got: SourceRecord[] = [];
    await start(name, group, topic, 'earliest', async (r) => {
      got.push(r);
    });
    await expect.poll(() => got.length, { timeout: 30_000 }).toBe(60);
    expect(new Set(got.map(n)).size).toBe(60);
    const last = new Map<string, number>();
    const offsets = new Map<number, bigint>();
    for (const r of got) {
      const v = n(r);
      const dev = `dev-${v % 6}`;
      expect(r.key?.toString()).toBe(dev);
      expect(r.headers['mqtt.topic']?.toString()).toBe(`devices/${dev}/command`);
      expect(r.headers['gateway.seq']?.toString()).toBe(String(v));
      expect(v).toBeGreaterThan(last.get(dev) ?? -1);
      last.set(dev, v);
      expect(BigInt(r.offset)).toBeGreaterThan(offsets.get(r.partition) ?? -1n);
      offsets.set(r.partition, BigInt(r.offset));
    }
  });

  it('commits only what was done and resumes there after stop and start', async () => {
    const { topic, group } = fresh();
    await produce(topic, 0, 30);
    const done: number[] = [];
    let refused: number | undefined;
    const first = await start(name, group, topic, 'earliest', async (r) => {
      if (done.length === 12) {
        refused = n(r);
        throw new Error('not delivered');
      }
      done.push(n(r));
    });
    const [crash] = (await once(first, 'crash')) as [Error];
    expect(crash.message).toBe('not delivered');
    expect(first.health()).toMatchObject({ state: 'crashed', committed: 12 });
    await first.stop();

    // The next consumer of the group gets exactly what was not done, the refused record among it. A partition with
    // nothing committed yet starts where `startAt` says, as for a fresh group: `earliest` here hands all of it over.
    const again: number[] = [];
    const second = await start(name, group, topic, 'earliest', async (r) => {
      again.push(n(r));
    });
    await expect.poll(() => again.length, { timeout: 30_000 }).toBe(30 - 12);
    expect(again).toContain(refused);
    expect(new Set([...done, ...again]).size).toBe(30);
    // Records sent while it runs arrive too; after a clean stop nothing done comes back, new records do — also with
    // startAt latest, since every partition with records now has a committed offset.
    await produce(topic, 30, 6);
    await expect.poll(() => again.length, { timeout: 30_000 }).toBe(30 - 12 + 6);
    await second.stop();
    await produce(topic, 36, 6);
    const third: number[] = [];
    await start(name, group, topic, 'latest', async (r) => {
      third.push(n(r));
    });
    await expect.poll(() => third.length, { timeout: 30_000 }).toBe(6);
    expect(third.sort((a, b) => a - b)).toEqual([36, 37, 38, 39, 40, 41]);
  });

  it('a fresh group with startAt latest skips what was there before', async () => {
    const { topic, group } = fresh();
    await produce(topic, 0, 12);
    const got: number[] = [];
    const source = await start(name, group, topic, 'latest', async (r) => {
      got.push(n(r));
    });
    await expect.poll(() => source.health().state, { timeout: 30_000 }).toBe('up');
    // The start position is taken once the partitions are assigned: send until one record arrived.
    let next = 1000;
    await expect
      .poll(
        async () => {
          if (got.length === 0) await produce(topic, next++, 1, 1);
          return got.length;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBeGreaterThan(0);
    expect(got.every((v) => v >= 1000)).toBe(true);
  });
});
