// Kafka cluster failover in a chaos scenario (`kafka: { cluster: 3 }`): the 3-broker KRaft cluster of the test
// harness and the log of what its broker steps did, the gateway's uplink topics created on it (3 partitions,
// replication factor 3, min.insync.replicas 2), the broker-* steps, and a watcher of the cluster's in-sync replicas
// and of the gateway's /healthz link. The figures drawn from them are in failover-figures.ts.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LocalKafkaCluster, PartitionInfo } from '../../test/harness/kafka-cluster.ts';
import type { Step } from './scenario.ts';

const run = promisify(execFile);

/** The uplink topics' layout on the cluster, as test/e2e/kafka-failover.test.ts creates its topic. */
export const CLUSTER_TOPIC = { partitions: 3, replicationFactor: 3, minInsync: 2 } as const;

/** One broker-kill/broker-stop step as it ran. */
export interface BrokerFault {
  /** Epoch ms. */
  at: number;
  signal: 'SIGKILL' | 'SIGTERM';
  node: number;
  /** With `broker: leader`: the partition whose leader it was. */
  leaderOf?: number;
}

/** The cluster a scenario runs on, and what its broker steps did. */
export class ClusterLog {
  readonly faults: BrokerFault[] = [];
  /** Epoch ms of each broker-start that brought brokers back, and which. */
  readonly starts: { at: number; nodes: number[] }[] = [];
  readonly cluster: LocalKafkaCluster;
  /** The gateway's uplink topic: the first of the verify's topics. */
  readonly topic: string;
  constructor(cluster: LocalKafkaCluster, topic: string) {
    this.cluster = cluster;
    this.topic = topic;
  }
}

/** Creates the verify's topics on the cluster: 3 partitions, replication factor 3, min.insync.replicas 2. */
export function createClusterTopics(cluster: LocalKafkaCluster, topics: readonly string[]): void {
  for (const topic of topics) {
    cluster.createTopic(topic, {
      partitions: CLUSTER_TOPIC.partitions,
      replicationFactor: CLUSTER_TOPIC.replicationFactor,
      config: { 'min.insync.replicas': String(CLUSTER_TOPIC.minInsync) },
    });
  }
}

/** Leader and in-sync replicas per partition from a running broker's metadata (kcat -L), without blocking. */
async function partitionsOf(c: LocalKafkaCluster, topic: string): Promise<PartitionInfo[]> {
  const { stdout } = await run('kcat', ['-L', '-J', '-b', c.runningBrokers.join(','), '-t', topic], {
    timeout: 10_000,
  });
  const meta = JSON.parse(stdout) as {
    topics: { topic: string; partitions?: { partition: number; leader: number; isrs: { id: number }[] }[] }[];
  };
  const t = meta.topics.find((x) => x.topic === topic);
  return (t?.partitions ?? [])
    .map((p) => ({ partition: p.partition, leader: p.leader, replicas: [], isrs: p.isrs.map((x) => x.id) }))
    .sort((a, b) => a.partition - b.partition);
}

/** End offset per partition (kcat -Q at the latest offset); an empty map when it cannot tell. */
async function endOffsets(c: LocalKafkaCluster, topic: string): Promise<Map<number, number>> {
  const targets = Array.from({ length: CLUSTER_TOPIC.partitions }, (_, p) => ['-t', `${topic}:${p}:-1`]).flat();
  const out = new Map<number, number>();
  try {
    const { stdout } = await run('kcat', ['-Q', '-b', c.runningBrokers.join(','), ...targets], { timeout: 10_000 });
    for (const m of stdout.matchAll(/\[(\d+)\]\s+offset\s+(\d+)/g)) out.set(Number(m[1]), Number(m[2]));
  } catch {
    // the leader of a partition may be away: no offsets, partition 0 is used
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `broker: leader`: the live leader of the busiest partition of the uplink topic (the highest end offset; partition 0
 * when the offsets cannot be read), waiting up to 30 s for the partition to have one (a leader killed just before).
 */
async function leaderTarget(log: ClusterLog): Promise<{ node: number; partition: number } | undefined> {
  const offsets = await endOffsets(log.cluster, log.topic);
  let partition = 0;
  for (const [p, o] of offsets) if (o > (offsets.get(partition) ?? -1)) partition = p;
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const leader = (await partitionsOf(log.cluster, log.topic).catch(() => []))[partition]?.leader ?? -1;
    if (leader > 0 && log.cluster.node(leader).running) return { node: leader, partition };
    await sleep(500);
  }
  return undefined;
}

type Mark = (label: string) => void;
/** The part of the chaos rig the broker steps act on. */
type ChaosRig = { cluster?: ClusterLog | undefined };

function clusterOf(rig: ChaosRig): ClusterLog {
  if (!rig.cluster) throw new Error('this step needs kafka: { cluster: 3 }');
  return rig.cluster;
}

async function brokerDown(s: Step, rig: ChaosRig, mark: Mark, signal: 'SIGKILL' | 'SIGTERM'): Promise<undefined> {
  const log = clusterOf(rig);
  let node = typeof s.broker === 'number' ? s.broker : undefined;
  let partition: number | undefined;
  if (s.broker === 'leader') {
    const t = await leaderTarget(log);
    if (!t) {
      mark(`broker leader ${signal}: no live leader of the busiest partition, skipped`);
      return undefined;
    }
    ({ node, partition } = t);
  }
  if (node === undefined) return undefined;
  const broker = log.cluster.node(node);
  if (!broker.running) {
    mark(`broker ${node} ${signal}: already down`);
    return undefined;
  }
  mark(`broker ${node} ${signal}${partition === undefined ? '' : ` (leader of p${partition})`}`);
  log.faults.push({ at: Date.now(), signal, node, ...(partition === undefined ? {} : { leaderOf: partition }) });
  await (signal === 'SIGKILL' ? broker.kill() : broker.stop());
  return undefined;
}

/** Starts the brokers that are down among `which` (all of them by default); true when one was started. */
export async function startBrokers(log: ClusterLog, mark: Mark, which?: number): Promise<boolean> {
  const nodes = log.cluster.nodes
    .map((n, i) => ({ n, id: i + 1 }))
    .filter((x) => !x.n.running && (which === undefined || x.id === which));
  if (nodes.length === 0) {
    if (which !== undefined) mark(`broker ${which} start: already up`);
    return false;
  }
  const ids = nodes.map((x) => x.id).join(',');
  mark(`broker ${ids} start`);
  log.starts.push({ at: Date.now(), nodes: nodes.map((x) => x.id) });
  await Promise.all(nodes.map((x) => x.n.restart()));
  mark(`broker ${ids} up`);
  return true;
}

/** The broker-* steps (steps.ts): SIGKILL / SIGTERM one broker, start the ones down. */
export const BROKER = {
  'broker-kill': (s: Step, rig: ChaosRig, mark: Mark) => brokerDown(s, rig, mark, 'SIGKILL'),
  'broker-stop': (s: Step, rig: ChaosRig, mark: Mark) => brokerDown(s, rig, mark, 'SIGTERM'),
  'broker-start': async (s: Step, rig: ChaosRig, mark: Mark): Promise<undefined> => {
    await startBrokers(clusterOf(rig), mark, typeof s.broker === 'number' ? s.broker : undefined);
    return undefined;
  },
};

/** What /healthz said of the Kafka link at a moment (ms since the load started); only changes are kept. */
export interface LinkPoint {
  t: number;
  status: string;
  link: string;
  lastError: string | null;
}

/** The fewest in-sync replicas of any partition of the uplink topic (ms since the load started); changes only. */
export interface IsrPoint {
  t: number;
  minIsr: number;
  leaders: number[];
}

export interface ClusterWatch {
  link: LinkPoint[];
  isr: IsrPoint[];
  stop: () => Promise<void>;
}

/** Samples /healthz every 250 ms and the topic's ISR every second until stopped. */
export function watchCluster(log: ClusterLog, healthUrl: string, started: number): ClusterWatch {
  const link: LinkPoint[] = [];
  const isr: IsrPoint[] = [];
  let on = true;
  const health = (async () => {
    while (on) {
      const t = Date.now() - started;
      try {
        const res = await fetch(healthUrl, { signal: AbortSignal.timeout(800) });
        const h = (await res.json()) as { status?: string; kafka?: { link?: string; lastError?: string } };
        const p = { t, status: h.status ?? '?', link: h.kafka?.link ?? '?', lastError: h.kafka?.lastError ?? null };
        const last = link.at(-1);
        if (!last || last.status !== p.status || last.link !== p.link || last.lastError !== p.lastError) link.push(p);
      } catch {
        // the gateway not answering is no link state
      }
      await sleep(250);
    }
  })();
  const replicas = (async () => {
    while (on) {
      const t = Date.now() - started;
      try {
        const parts = await partitionsOf(log.cluster, log.topic);
        if (parts.length > 0) {
          const p = { t, minIsr: Math.min(...parts.map((x) => x.isrs.length)), leaders: parts.map((x) => x.leader) };
          const last = isr.at(-1);
          if (!last || last.minIsr !== p.minIsr || last.leaders.join() !== p.leaders.join()) isr.push(p);
        }
      } catch {
        // no broker answered this time
      }
      await sleep(1000);
    }
  })();
  return {
    link,
    isr,
    stop: async () => {
      on = false;
      await Promise.all([health, replicas]);
    },
  };
}
