// One contract, every KafkaSink: records arrive once each with key, value and headers intact, in order per key;
// a send to an unreachable cluster rejects instead of pretending; and a failure says what a retry can do
// (GW_ERR_KAFKA transient, GW_ERR_KAFKA_TOO_LARGE for a batch the broker finds too big, GW_ERR_KAFKA_REFUSED).
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { createSink, type SinkName, type SinkRecord } from '../../cloud-sync/sinks/index.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { kcatRead } from '../harness/kcat.ts';

const log = pino({ level: 'silent' });

function sinkOpts(brokers: readonly string[]) {
  return {
    brokers,
    clientId: 'contract',
    compression: 'gzip' as const,
    requestTimeoutMs: 10_000,
    tls: undefined,
    sasl: undefined,
    log,
  };
}

describe.each<SinkName>(['platformatic', 'kafkajs'])('KafkaSink contract: %s', (name) => {
  it('delivers every record once, intact, in order per key', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = `contract.${name}.${randomBytes(4).toString('hex')}`;
    const sink = await createSink(name, sinkOpts(brokers));
    await sink.connect();
    const devices = 10;
    const perDevice = 200;
    let n = 0;
    for (let b = 0; b < 4; b++) {
      const batch: SinkRecord[] = [];
      for (let i = 0; i < (devices * perDevice) / 4; i++) {
        const dev = `dev-${n % devices}`;
        const seq = Math.floor(n / devices);
        batch.push({
          topic,
          key: Buffer.from(dev),
          value: Buffer.from(JSON.stringify({ dev, seq })),
          headers: { 'gateway.msg_id': Buffer.from(`gw-${n}`), 'device.seq': Buffer.from(String(seq)) },
        });
        n++;
      }
      await sink.send(batch);
    }
    await sink.close();

    const got = kcatRead(brokers, topic);
    expect(got).toHaveLength(devices * perDevice);
    const ids = new Set(got.map((r) => r.headers['gateway.msg_id']));
    expect(ids.size).toBe(devices * perDevice);
    const lastSeq = new Map<string, number>();
    const partitionOf = new Map<string, number>();
    for (const r of got.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      const v = JSON.parse(r.payload ?? '') as { dev: string; seq: number };
      expect(r.key).toBe(v.dev);
      expect(r.headers['device.seq']).toBe(String(v.seq));
      expect(v.seq).toBe((lastSeq.get(v.dev) ?? -1) + 1);
      lastSeq.set(v.dev, v.seq);
      // One key, one partition: that is what keeps a device's records in order for consumers.
      expect(partitionOf.get(v.dev) ?? r.partition).toBe(r.partition);
      partitionOf.set(v.dev, r.partition);
    }
  });

  it('rejects connect or send when Kafka is unreachable', async () => {
    const sink = await createSink(name, { ...sinkOpts(['127.0.0.1:1']), requestTimeoutMs: 2000 });
    const attempt = async (): Promise<void> => {
      await sink.connect();
      await sink.send([{ topic: 'x', key: Buffer.from('k'), value: Buffer.from('v'), headers: {} }]);
    };
    const err = await attempt().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'GW_ERR_KAFKA', canRetry: true });
    expect((err as Error).message).toContain('127.0.0.1:1');
    expect((err as Error).cause).toBeDefined();
    await sink.close();
  });

  it('says a batch is too large, and that an invalid topic is refused', async () => {
    const brokers = inject('kafkaBrokers');
    const sink = await createSink(name, sinkOpts(brokers));
    await sink.connect();
    const topic = `contract.${name}.${randomBytes(4).toString('hex')}`;
    // Past the broker's message.max.bytes (1 MB by default) even gzipped: random bytes do not compress.
    const big = { topic, key: Buffer.from('k'), value: randomBytes(1_500_000), headers: {} };
    await expect(sink.send([big])).rejects.toMatchObject({ code: 'GW_ERR_KAFKA_TOO_LARGE', canRetry: true });
    const invalid = { topic: 'not a valid topic!', key: Buffer.from('k'), value: Buffer.from('v'), headers: {} };
    await expect(sink.send([invalid])).rejects.toMatchObject({ code: 'GW_ERR_KAFKA_REFUSED', canRetry: false });
    await sink.close();
  });
});
