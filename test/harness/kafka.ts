// Runs Apache Kafka 4.1 as a single-node KRaft broker from its Maven Central jars, for tests and local runs.
// The broker can be stopped, killed and restarted on the same port and data dir, for outage tests.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
const pom = join(repoRoot, 'test', 'kafka', 'pom.xml');
const log4j = join(here, 'log4j2.properties');

export function kafkaLibsDir(): string {
  return process.env.KAFKA_LIBS ?? join(repoRoot, '.cache', 'kafka', 'libs');
}

/** Copies the Kafka jars from Maven Central into the cache once; later calls are free. */
export function ensureKafkaJars(): string {
  const libs = kafkaLibsDir();
  if (existsSync(libs) && readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) return libs;
  const r = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-Dstyle.color=never',
      '-f',
      pom,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${libs}`,
      '-DincludeScope=runtime',
    ],
    // Maven's output to stderr: a command's stdout (`./gw sim chaos --json > F`) carries only what it prints itself.
    { stdio: ['ignore', 2, 2] },
  );
  if (r.status !== 0) throw new Error(`fetching Kafka jars with Maven failed (exit ${r.status})`);
  return libs;
}

/** Ports handed out by this process, so two callers never get the same one. */
const givenPorts = new Set<number>();

/**
 * A port free on 127.0.0.1, below the kernel's ephemeral range (32768–60999 on Linux). A port the kernel picked with
 * listen(0) comes from that range, and once released it can be taken as the source port of any outgoing connection
 * (a Kafka client's, a device's) before the gateway binds it or binds it again after a restart: EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (givenPorts.has(port)) continue;
    if (await canBind(port)) {
      givenPorts.add(port);
      return port;
    }
  }
  throw new Error('no free port found in 20000–31999 after 200 tries');
}

async function canBind(port: number): Promise<boolean> {
  const srv = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
  } catch {
    return false;
  }
  srv.close();
  await once(srv, 'close');
  return true;
}

export interface LocalKafkaOptions {
  /** Client port; 0 or absent picks a free one. */
  port?: number;
  /** Data dir; absent makes a temp dir that stop() removes. */
  dataDir?: string;
  /** Partitions for auto-created topics. */
  partitions?: number;
  /** Extra broker properties (server.properties). */
  brokerProps?: Record<string, string>;
  /** More client listeners besides PLAINTEXT, e.g. `{ name: 'SSL', protocol: 'SSL', port }` (configure it in brokerProps). */
  extraListeners?: { name: string; protocol: string; port: number }[];
  /** Controller listener port; 0 or absent picks a free one (a cluster fixes them all before any node starts). */
  controllerPort?: number;
  /** KRaft cluster id to format the data dir with (the nodes of a cluster share one); random when absent. */
  clusterId?: string;
  /** Print the broker's output (default: only when KAFKA_VERBOSE is set). */
  verbose?: boolean;
  startTimeoutMs?: number;
}

export class LocalKafka {
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  private readonly ownsDir: boolean;
  private proc: ChildProcess | undefined;
  private readonly opts: LocalKafkaOptions;
  private output = '';

  private constructor(
    port: number,
    controllerPort: number,
    dataDir: string,
    ownsDir: boolean,
    opts: LocalKafkaOptions,
  ) {
    this.port = port;
    this.controllerPort = controllerPort;
    this.dataDir = dataDir;
    this.ownsDir = ownsDir;
    this.opts = opts;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  static async start(opts: LocalKafkaOptions = {}): Promise<LocalKafka> {
    ensureKafkaJars();
    const port = opts.port || (await freePort());
    const controllerPort = opts.controllerPort || (await freePort());
    const ownsDir = !opts.dataDir;
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kafka-'));
    const k = new LocalKafka(port, controllerPort, dataDir, ownsDir, opts);
    k.writeConfig();
    k.format();
    await k.launch();
    return k;
  }

  private get configPath(): string {
    return join(this.dataDir, 'server.properties');
  }

  private writeConfig(): void {
    mkdirSync(join(this.dataDir, 'logs'), { recursive: true });
    const extra = this.opts.extraListeners ?? [];
    const more = (f: (l: { name: string; protocol: string; port: number }) => string): string =>
      extra.map((l) => `,${f(l)}`).join('');
    const props = {
      'process.roles': 'broker,controller',
      'node.id': '1',
      'controller.quorum.voters': `1@127.0.0.1:${this.controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}${more((l) => `${l.name}://127.0.0.1:${l.port}`)}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${this.port}${more((l) => `${l.name}://127.0.0.1:${l.port}`)}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': `CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${more((l) => `${l.name}:${l.protocol}`)}`,
      'log.dirs': join(this.dataDir, 'logs'),
      'num.partitions': String(this.opts.partitions ?? 3),
      'auto.create.topics.enable': 'true',
      'offsets.topic.replication.factor': '1',
      'offsets.topic.num.partitions': '4',
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
      'share.coordinator.state.topic.replication.factor': '1',
      'share.coordinator.state.topic.min.isr': '1',
      'group.initial.rebalance.delay.ms': '0',
      'log.flush.interval.messages': '9223372036854775807',
      ...this.opts.brokerProps,
    };
    writeFileSync(
      this.configPath,
      `${Object.entries(props)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
  }

  private javaArgs(main: string, args: string[]): string[] {
    return [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+UseG1GC',
      // C1 only starts ~2x faster, fine for tests; benchmarks want the full JIT (KAFKA_FULL_JIT=1).
      ...(process.env.KAFKA_FULL_JIT ? [] : ['-XX:TieredStopAtLevel=1']),
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4j}`,
      `-Dkafka.logs.dir=${join(this.dataDir, 'applogs')}`,
      '-cp',
      `${kafkaLibsDir()}/*`,
      main,
      ...args,
    ];
  }

  private format(): void {
    if (existsSync(join(this.dataDir, 'logs', 'meta.properties'))) return;
    const clusterId = this.opts.clusterId ?? randomBytes(16).toString('base64url');
    const r = spawnSync(
      'java',
      this.javaArgs('kafka.tools.StorageTool', [
        'format',
        // `=` form: a random id may start with '-', which the tool's argument parser would take for an option.
        `--cluster-id=${clusterId}`,
        '--config',
        this.configPath,
        '--ignore-formatted',
      ]),
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`kafka storage format failed: ${r.stderr || r.stdout}`);
  }

  private async launch(): Promise<void> {
    this.output = '';
    const proc = spawn('java', this.javaArgs('kafka.Kafka', [this.configPath]), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const verbose = this.opts.verbose ?? Boolean(process.env.KAFKA_VERBOSE);
    const timeoutMs = this.opts.startTimeoutMs ?? 90_000;
    await new Promise<void>((resolveStarted, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`Kafka did not start within ${timeoutMs} ms:\n${this.output.slice(-4000)}`));
      }, timeoutMs);
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString();
        if (verbose) process.stderr.write(text);
        if (this.output.length < 200_000) this.output += text;
        if (this.output.includes('Kafka Server started')) {
          clearTimeout(timer);
          resolveStarted();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Kafka exited during start (code ${code}, signal ${signal}):\n${this.output.slice(-4000)}`));
      });
    });
  }

  /** Graceful stop (SIGTERM), keeping the data dir. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** Abrupt stop (SIGKILL), keeping the data dir. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Starts again on the same ports and data. */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.launch();
  }

  /** Stops the broker and removes a data dir it created. */
  async close(): Promise<void> {
    await this.signal('SIGKILL');
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  }
}
