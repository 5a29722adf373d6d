// The promise through a Kafka cluster failover (README "The guarantee"): the real gateway sends to a 3-broker cluster
// (topic replicated 3 times, min.insync.replicas 2) while devices publish QoS 1 steadily. The leader of the busiest
// partition is SIGKILLed mid-stream, then a second broker: with one replica in sync Kafka refuses every produce
// (NOT_ENOUGH_REPLICAS), and the gateway must keep acknowledging devices (the records wait on disk) and say on
// /healthz that the link is not up, and why. Both brokers come back, the backlog drains, and kcat (a third-party
// client) must find every acknowledged message, in order per device; duplicates are counted and printed.
// FAILOVER_ROUNDS=10 repeats the kill/restore cycle (default 1); FAILOVER_CLIENTS picks the Kafka clients.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { LocalKafkaCluster } from '../harness/kafka-cluster.ts';
import { type KcatRecord, kcatRead } from '../harness/kcat.ts';
import { Trickle } from '../harness/trickle.ts';
import { waitFor } from '../harness/wait.ts';

const ROUNDS = Number(process.env.FAILOVER_ROUNDS ?? 1);
/** The default client only: with kafkajs 2.2 a produce retried after a leader moved to a broker that had already
 * answered for its other partitions resolves without resending the moved partition's records (they are lost), so
 * that case fails in some runs until the kafkajs sink works around it. FAILOVER_CLIENTS=platformatic,kafkajs runs both. */
const CLIENTS = (process.env.FAILOVER_CLIENTS ?? 'platformatic').split(',');
const DEVICES = Array.from({ length: 6 }, (_, i) => `fo-${i}`);
const PARTITIONS = 3;

type Health = {
  status: string;
  kafka: { link: string; lastError?: string; lastErrorAt?: string; consecutiveFailures: number };
};

let cluster: LocalKafkaCluster | undefined;
beforeAll(async () => {
  cluster = await LocalKafkaCluster.start();
}, 180_000);
afterAll(async () => {
  await cluster?.close();
});

interface Tally {
  acked: number;
  found: number;
  lost: number;
  duplicates: number;
  /** Copies of a record the gateway sent again (same gateway.msg_id). */
  resent: number;
  outOfOrder: number;
  /** What was lost or out of order, with the records around it, for the failure message. */
  problems: string[];
}

/** Checks what Kafka holds against the ledger: each acknowledged sequence present, and per device the sequence
 * never goes backwards except to repeat one already seen (a duplicate), nor skips ahead. */
function tally(records: KcatRecord[], acked: Map<string, number>): Tally {
  const t: Tally = { acked: 0, found: 0, lost: 0, duplicates: 0, resent: 0, outOfOrder: 0, problems: [] };
  const show = (r: KcatRecord): string =>
    `${r.payload}@p${r.partition}/o${r.offset}(${r.headers['gateway.msg_id']?.split('-').pop()})`;
  const ids = new Set<string>();
  for (const r of records) {
    const id = r.headers['gateway.msg_id'];
    if (id !== undefined && ids.has(id)) t.resent += 1;
    if (id !== undefined) ids.add(id);
  }
  for (const [d, n] of acked) {
    t.acked += n;
    const seen = new Set<number>();
    let max = -1;
    const mine = records.filter((r) => r.key === d);
    mine.forEach((r, i) => {
      const seq = Number((r.payload ?? '').slice(d.length + 1));
      if (seen.has(seq)) {
        t.duplicates += 1;
        if (process.env.FAILOVER_DEBUG) t.problems.push(`${d}: duplicate ${show(r)}`);
      } else if (seq !== max + 1) {
        t.outOfOrder += 1;
        t.problems.push(
          `${d}: after ${max} came ${seq}: ${mine
            .slice(Math.max(0, i - 3), i + 4)
            .map(show)
            .join(' ')}`,
        );
      }
      seen.add(seq);
      max = Math.max(max, seq);
    });
    for (let i = 0; i < n; i++) if (seen.has(i)) t.found += 1;
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
    t.lost += missing.length;
    if (missing.length > 0) t.problems.push(`${d}: missing ${missing.join(',')} of 0..${n - 1}`);
  }
  return t;
}

/** Samples /healthz every 250 ms while running: the distinct `status, link: lastError` it showed, in order. */
class HealthSampler {
  readonly seen: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  start(g: GatewayProcess): void {
    this.timer = setInterval(() => {
      g.health()
        .then((h) => {
          const { kafka } = h as Health;
          const line = `${(h as Health).status}, link ${kafka.link}: ${kafka.lastError ?? '(no error)'}`;
          if (this.timer && this.seen.at(-1) !== line) this.seen.push(line);
        })
        .catch(() => {});
    }, 250);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The partition holding most records of the topic so far. */
function busiestPartition(c: LocalKafkaCluster, topic: string): number {
  const counts = new Array<number>(PARTITIONS).fill(0);
  for (const r of kcatRead(c.runningBrokers, topic)) counts[r.partition] = (counts[r.partition] ?? 0) + 1;
  return counts.indexOf(Math.max(...counts));
}

describe.each(CLIENTS)('Kafka cluster failover (kafka.client %s)', (client) => {
  let gw: GatewayProcess | undefined;
  let trickle: Trickle | undefined;
  afterAll(async () => {
    await trickle?.stop().catch(() => {});
    await gw?.close();
  });

  it(
    'loses no acknowledged message and keeps each device in order through leader loss and lost min.insync',
    async () => {
      const c = cluster as LocalKafkaCluster;
      const topic = `e2e.failover.${client}.${randomBytes(4).toString('hex')}`;
      c.createTopic(topic, {
        partitions: PARTITIONS,
        replicationFactor: 3,
        config: { 'min.insync.replicas': '2' },
      });
      const g = await GatewayProcess.create({
        env: {
          GATEWAY_KAFKA_BROKERS: c.brokers.join(','),
          GATEWAY_KAFKA_CLIENT: client,
          GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
          GATEWAY_KAFKA_STALL_TIMEOUT_MS: '10000',
          GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
        },
      });
      gw = g;
      await g.start();
      const health = async (): Promise<Health> => (await g.health()) as Health;
      const t = new Trickle(DEVICES);
      trickle = t;
      await t.start(g.url, 20);
      await waitFor('records flowing to Kafka', async () => (await g.metric('gateway_forwarded_records_total')) >= 200);

      const seenUnderReplicated: Health['kafka'][] = [];
      const statuses: string[] = [];
      const shown: string[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        // 1. The leader of the busiest partition dies: another in-sync replica takes over, sends go on.
        const partition = busiestPartition(c, topic);
        const first = c.leaderOf(topic, partition);
        expect(first).toBeGreaterThan(0);
        await c.node(first).kill();
        const forwardedAtKill = await g.metric('gateway_forwarded_records_total');
        await waitFor(
          'a new leader for the partition',
          () => ![-1, first].includes(c.leaderOf(topic, partition)),
          60_000,
          500,
        );
        await waitFor(
          'records forwarded to the new leaders',
          async () => (await g.metric('gateway_forwarded_records_total')) > forwardedAtKill + 200,
          60_000,
          200,
        );

        // 2. A second broker dies: one replica in sync, below min.insync.replicas, every produce is refused.
        const second = c.leaderOf(topic, partition);
        const sampler = new HealthSampler();
        sampler.start(g);
        await c.node(second).kill();
        await waitFor(
          'one replica in sync everywhere',
          () => c.partitions(topic).every((p) => p.isrs.length === 1),
          60_000,
          500,
        );
        // The clients retry a refused produce a couple of times; a request held by the leader while its follower was
        // still counted in sync may first run into the stall bound. Either way health ends up naming Kafka's refusal.
        await waitFor(
          'health: the link not up, with the refusal as its cause',
          async () => {
            const h = await health();
            if (h.kafka.link === 'up' || !/fewer in-sync replicas/i.test(h.kafka.lastError ?? '')) return false;
            seenUnderReplicated.push(h.kafka);
            statuses.push(h.status);
            return true;
          },
          120_000,
          250,
        );
        // Devices are still acknowledged: their messages wait on disk.
        const ackedThen = t.total;
        const backlogThen = await g.metric('gateway_backlog_records');
        await waitFor('devices acknowledged while Kafka refuses', () => t.total > ackedThen + 100, 60_000, 100);
        await waitFor(
          'the backlog growing',
          async () => (await g.metric('gateway_backlog_records')) > backlogThen + 50,
          60_000,
          200,
        );

        // 3. Both come back: the replicas catch up, the backlog drains.
        sampler.stop();
        shown.push(...sampler.seen);
        await Promise.all([c.node(first).restart(), c.node(second).restart()]);
        await waitFor(
          'all replicas in sync',
          () => c.partitions(topic).every((p) => p.isrs.length === 3),
          120_000,
          500,
        );
        await waitFor('link up again', async () => (await health()).kafka.link === 'up', 120_000, 200);
        await waitFor(
          'records forwarded after the restore',
          async () => (await g.metric('gateway_backlog_records')) < 100,
          120_000,
          200,
        );
      }
      await t.stop();
      await waitFor('backlog drained', async () => (await g.metric('gateway_backlog_records')) === 0, 120_000, 200);

      const got = kcatRead(c.brokers, topic);
      const r = tally(got, t.acked);
      const seen = seenUnderReplicated.map((h, i) => `${statuses[i]}, link ${h.link}: ${h.lastError}`).join(' | ');
      console.log(
        `failover (${client}, ${ROUNDS} round(s)): acked ${r.acked}, found ${r.found}, lost ${r.lost}, ` +
          `duplicates ${r.duplicates} (resent with the same gateway.msg_id: ${r.resent}), out of order ${r.outOfOrder}; ` +
          `records in Kafka ${got.length}; health below min.insync.replicas: ${seen}`,
      );
      console.log(`health while one replica was in sync, in order:\n  ${shown.join('\n  ')}`);
      if (r.problems.length > 0) console.log(r.problems.join('\n'));
      if (process.env.FAILOVER_DEBUG)
        console.log(
          g.output
            .split('\n')
            .filter((l) => /"level":(40|50)/.test(l))
            .join('\n'),
        );
      expect(r.acked).toBeGreaterThan(DEVICES.length * 100);
      expect(r.lost).toBe(0);
      expect(r.found).toBe(r.acked);
      expect(r.outOfOrder).toBe(0);
      expect(seenUnderReplicated).toHaveLength(ROUNDS);
      expect(statuses.filter((s) => s === 'ok')).toEqual([]);
    },
    150_000 + ROUNDS * 90_000,
  );
});
