// A 3-broker Apache Kafka 4.1 KRaft cluster from the same Maven Central jars as LocalKafka, for failover tests: three
// broker-only nodes (node.id 1-3) and one controller-only node (node.id 100), on free ports of 127.0.0.1; each can be
// stopped (SIGTERM), killed (SIGKILL) and restarted on its own data dir. Internal topics are replicated 3 times with
// min.insync.replicas 2. The controller is a node of its own so that the metadata quorum outlives the loss of two
// brokers: then the controller shrinks the in-sync replicas to the one broker left and it refuses produce requests
// with NOT_ENOUGH_REPLICAS, as a real cluster with dedicated controllers does. (With three combined nodes, losing two
// loses the quorum too, and the last leader would wait for its dead followers until the request times out.)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKafkaJars, freePort, kafkaLibsDir, LocalKafka } from './kafka.ts';

const CONTROLLER_ID = 100;
const log4j = join(dirname(fileURLToPath(import.meta.url)), 'log4j2.properties');

export interface KafkaClusterOptions {
  /** Nodes (voters); 3 by default. */
  nodes?: number;
  /** Extra broker properties for every node. */
  brokerProps?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface PartitionInfo {
  partition: number;
  /** Node id of the leader, or -1 when the partition has none. */
  leader: number;
  replicas: number[];
  isrs: number[];
}

export class LocalKafkaCluster {
  /** The brokers by index; broker `i` has node.id `i + 1`. */
  readonly nodes: LocalKafka[];
  /** The controller-only node (the metadata quorum of one voter). */
  readonly controller: LocalKafka;
  private readonly dir: string;

  private constructor(nodes: LocalKafka[], controller: LocalKafka, dir: string) {
    this.nodes = nodes;
    this.controller = controller;
    this.dir = dir;
  }

  /** Every node's client address (the bootstrap list). */
  get brokers(): string[] {
    return this.nodes.flatMap((n) => n.brokers);
  }

  /** The client addresses of the nodes running now (for readers while some are down). */
  get runningBrokers(): string[] {
    return this.nodes.filter((n) => n.running).flatMap((n) => n.brokers);
  }

  static async start(opts: KafkaClusterOptions = {}): Promise<LocalKafkaCluster> {
    ensureKafkaJars();
    const count = opts.nodes ?? 3;
    const dir = mkdtempSync(join(tmpdir(), 'kafka-cluster-'));
    const controllerPort = await freePort();
    const ports: { port: number; controllerPort: number }[] = [];
    for (let i = 0; i < count; i++) ports.push({ port: await freePort(), controllerPort });
    const voters = `${CONTROLLER_ID}@127.0.0.1:${controllerPort}`;
    const rf = String(Math.min(3, count));
    const minIsr = String(Math.min(2, count));
    const clusterId = randomBytes(16).toString('base64url');
    const common = {
      'controller.quorum.voters': voters,
      // A killed broker is fenced (and dropped from the in-sync replicas) within seconds, not the default 9-30 s.
      'broker.session.timeout.ms': '4000',
      'broker.heartbeat.interval.ms': '500',
      'replica.lag.time.max.ms': '5000',
      'offsets.topic.replication.factor': rf,
      'transaction.state.log.replication.factor': rf,
      'transaction.state.log.min.isr': minIsr,
      'share.coordinator.state.topic.replication.factor': rf,
      'share.coordinator.state.topic.min.isr': minIsr,
      'default.replication.factor': rf,
      'min.insync.replicas': minIsr,
      ...opts.brokerProps,
    };
    const dataDir = (name: string): string => {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const timeout = opts.startTimeoutMs ? { startTimeoutMs: opts.startTimeoutMs } : {};
    const controller = await LocalKafka.start({
      ...timeout,
      controllerPort,
      dataDir: dataDir('controller'),
      clusterId,
      brokerProps: {
        ...common,
        'process.roles': 'controller',
        'node.id': String(CONTROLLER_ID),
        listeners: `CONTROLLER://127.0.0.1:${controllerPort}`,
        'advertised.listeners': `CONTROLLER://127.0.0.1:${controllerPort}`,
      },
    });
    const nodes = await Promise.all(
      ports.map((p, i) =>
        LocalKafka.start({
          ...timeout,
          port: p.port,
          controllerPort,
          dataDir: dataDir(`broker-${i + 1}`),
          clusterId,
          brokerProps: {
            ...common,
            'process.roles': 'broker',
            'node.id': String(i + 1),
            listeners: `PLAINTEXT://127.0.0.1:${p.port}`,
          },
        }),
      ),
    );
    return new LocalKafkaCluster(nodes, controller, dir);
  }

  /** The node with this node.id. */
  node(id: number): LocalKafka {
    const n = this.nodes[id - 1];
    if (!n) throw new Error(`no Kafka node ${id}`);
    return n;
  }

  /** Creates a topic with the Kafka admin CLI (`kafka-topics --create`) from the jars. */
  createTopic(
    topic: string,
    o: { partitions: number; replicationFactor: number; config?: Record<string, string> },
  ): void {
    const config = Object.entries(o.config ?? {}).flatMap(([k, v]) => ['--config', `${k}=${v}`]);
    const args = [
      ...['--bootstrap-server', this.runningBrokers.join(','), '--create', '--topic', topic],
      ...['--partitions', String(o.partitions), '--replication-factor', String(o.replicationFactor), ...config],
    ];
    const r = spawnSync(
      'java',
      [
        '-Xmx256m',
        '-XX:TieredStopAtLevel=1',
        `-Dlog4j2.configurationFile=${log4j}`,
        '-cp',
        `${kafkaLibsDir()}/*`,
        'org.apache.kafka.tools.TopicCommand',
        ...args,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`kafka-topics --create ${topic} failed (${r.status}): ${r.stderr || r.stdout}`);
  }

  /** Leader, replicas and in-sync replicas of each partition of `topic`, from the metadata (kcat -L) of a running node. */
  partitions(topic: string): PartitionInfo[] {
    const r = spawnSync('kcat', ['-L', '-J', '-b', this.runningBrokers.join(','), '-t', topic], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`kcat -L failed (${r.status}): ${r.stderr}`);
    const meta = JSON.parse(r.stdout) as {
      topics: {
        topic: string;
        partitions?: { partition: number; leader: number; replicas: { id: number }[]; isrs: { id: number }[] }[];
      }[];
    };
    const t = meta.topics.find((x) => x.topic === topic);
    return (t?.partitions ?? [])
      .map((p) => ({
        partition: p.partition,
        leader: p.leader,
        replicas: p.replicas.map((x) => x.id),
        isrs: p.isrs.map((x) => x.id),
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  /** Node id of the leader of `partition` of `topic` (-1: none). */
  leaderOf(topic: string, partition: number): number {
    return this.partitions(topic).find((p) => p.partition === partition)?.leader ?? -1;
  }

  /** Kills every node and removes the data dirs. */
  async close(): Promise<void> {
    await Promise.all([...this.nodes, this.controller].map((n) => n.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
