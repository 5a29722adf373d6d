// "Connected but not forwarding": the real gateway sends to a real Kafka through a TCP relay that turns into a silent
// blackhole (accepts, reads, never answers, never resets) while devices publish a steady QoS 1 trickle. The gateway
// must call the link `stalled` (health, metrics, one log line), recycle its producer, and once the path heals deliver
// every acknowledged message, in order per device, none lost — with each Kafka client. The same for a broker that
// answers connects and metadata but never a produce.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import type { LocalKafka } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { startRelayedKafka } from '../harness/relayed-kafka.ts';
import { TcpProxy } from '../harness/tcp-proxy.ts';
import { Trickle } from '../harness/trickle.ts';
import { waitFor } from '../harness/wait.ts';

/** The bound under test: small, so the test is quick; the poll below allows far more. */
const STALL_TIMEOUT_MS = 5000;
const DEVICES = ['stall-a', 'stall-b', 'stall-c'];

let kafka: LocalKafka | undefined;
let proxyPort = 0;
let relayedPort = 0;
// The gateway reaches this Kafka only through the relay (test/harness/relayed-kafka.ts); kcat reads directly.
beforeAll(async () => {
  ({ kafka, relayedPort, proxyPort } = await startRelayedKafka());
});
afterAll(async () => {
  await kafka?.close();
});

type Health = { status: string; kafka: { link: string; stalls: number; lastSuccessAt?: string } };

const CASES = [
  { client: 'platformatic', fault: 'blackhole' },
  { client: 'kafkajs', fault: 'blackhole' },
  { client: 'platformatic', fault: 'produce never answered' },
  { client: 'kafkajs', fault: 'produce never answered' },
] as const;

describe.each(CASES)('$fault (kafka.client $client)', ({ client, fault }) => {
  let gw: GatewayProcess | undefined;
  let proxy: TcpProxy | undefined;
  let trickle: Trickle | undefined;
  afterAll(async () => {
    await trickle?.stop().catch(() => {});
    await gw?.close();
    await proxy?.close();
  });

  it('is reported stalled, the producer recycled, and after healing nothing is lost or out of order', async () => {
    const k = kafka as LocalKafka;
    const topic = `e2e.stall.${client}.${fault.length}.${randomBytes(4).toString('hex')}`;
    const relay = new TcpProxy(relayedPort);
    proxy = relay;
    await relay.start(proxyPort);
    const g = await GatewayProcess.create({
      env: {
        GATEWAY_KAFKA_BROKERS: `127.0.0.1:${proxyPort}`,
        GATEWAY_KAFKA_CLIENT: client,
        GATEWAY_KAFKA_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
        GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
        GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
      },
    });
    gw = g;
    await g.start();
    const health = async (): Promise<Health> => (await g.health()) as Health;
    const t = new Trickle(DEVICES);
    trickle = t;
    await t.start(g.url, 50);
    await waitFor('records flowing to Kafka', async () => (await g.metric('gateway_forwarded_records_total')) >= 30);
    expect((await health()).kafka.link).toBe('up');

    if (fault === 'blackhole') relay.blackhole();
    else relay.dropProduce();
    const atBlackhole = t.total;
    const acceptedBefore = relay.accepted;
    await waitFor('link reported stalled', async () => (await health()).kafka.link === 'stalled', 30_000, 200);
    const h = await health();
    expect(h.status).toBe('degraded');
    expect(h.kafka.stalls).toBeGreaterThanOrEqual(1);
    expect(await g.metric('gateway_kafka_stalls_total')).toBeGreaterThanOrEqual(1);
    expect(await g.metric('gateway_kafka_stalled')).toBe(1);
    expect(g.output).toContain('records waiting; recycling the producer');
    // Devices are still acknowledged meanwhile: the records wait on disk.
    await waitFor('publishing through the stall', () => t.total > atBlackhole + 30);
    // The recycled producer's new connections get no answer either.
    if (fault === 'blackhole') await waitFor('the producer recycled', () => relay.accepted > acceptedBefore);
    else await waitFor('the producer recycled', () => relay.droppedProduce > 1);

    relay.heal();
    await waitFor('link up again', async () => (await health()).kafka.link === 'up', 120_000, 200);
    await t.stop();
    await waitFor('backlog drained', async () => (await g.metric('gateway_backlog_records')) === 0, 120_000, 200);
    expect(await g.metric('gateway_kafka_stalled')).toBe(0);
    expect(g.output).toContain('stall over');
    // One warning per stall, however often the producer was recycled during it.
    const warnings = g.output.split('records waiting; recycling the producer').length - 1;
    expect(warnings).toBe(await g.metric('gateway_kafka_stalls_total'));

    const got = kcatRead(k.brokers, topic);
    for (const d of DEVICES) {
      // At least once: a batch whose answer was lost may come twice; its first copies are in publish order.
      const firsts = [...new Set(got.filter((r) => r.key === d).map((r) => r.payload))];
      const n = t.acked.get(d) ?? 0;
      expect(n).toBeGreaterThan(20);
      expect(firsts).toEqual(Array.from({ length: n }, (_, i) => `${d}:${i}`));
    }
  });
});

describe.each(['platformatic', 'kafkajs'])('an idle link that stops answering (kafka.client %s)', (client) => {
  let gw: GatewayProcess | undefined;
  let proxy: TcpProxy | undefined;
  afterAll(async () => {
    await gw?.close();
    await proxy?.close();
  });

  it('is found by the canary, and its answer after healing ends the stall', async () => {
    const relay = new TcpProxy(relayedPort);
    proxy = relay;
    await relay.start(proxyPort);
    const g = await GatewayProcess.create({
      env: {
        GATEWAY_KAFKA_BROKERS: `127.0.0.1:${proxyPort}`,
        GATEWAY_KAFKA_CLIENT: client,
        GATEWAY_KAFKA_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
        GATEWAY_KAFKA_CANARY_INTERVAL_MS: '1000',
        GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
      },
    });
    gw = g;
    await g.start();
    const health = async (): Promise<Health> => (await g.health()) as Health;
    // No record is published: only the canary asks Kafka anything.
    await waitFor('a canary answered', async () => (await g.metric('gateway_kafka_canary_seconds')) > 0);
    expect((await health()).kafka.link).toBe('up');
    expect(await g.metric('gateway_kafka_canary_failures_total')).toBe(0);

    relay.blackhole();
    await waitFor('link reported stalled', async () => (await health()).kafka.link === 'stalled', 30_000, 200);
    expect((await health()).status).toBe('degraded');
    expect(await g.metric('gateway_kafka_stalls_total')).toBe(1);
    expect(await g.metric('gateway_kafka_canary_failures_total')).toBeGreaterThanOrEqual(1);
    expect(g.output).toContain('no answer to a canary from Kafka');

    relay.heal();
    await waitFor('link up again', async () => (await health()).kafka.link === 'up', 120_000, 200);
    expect(await g.metric('gateway_kafka_stalled')).toBe(0);
  });
});
