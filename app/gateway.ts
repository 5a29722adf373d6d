// The composition root's core: builds the parts from the validated config, starts them in order and stops them in
// reverse. Constructors do no I/O; everything happens in start().
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CommandTracking } from '../cloud-sync/commands/tracking.ts';
import { Forwarder } from '../cloud-sync/forwarder.ts';
import { forwarderMetrics } from '../cloud-sync/forwarder-metrics.ts';
import { type KafkaConnection, kafkaConnection, kafkaConnectionWarnings } from '../cloud-sync/kafka-connection.ts';
import { createSink } from '../cloud-sync/sinks/index.ts';
import { flowKafkaTopics, flowsFileInUse } from '../flows/kafka-topics.ts';
import { resolveHost } from '../gateway/auth/exposure.ts';
import { Authority } from '../gateway/auth/index.ts';
import { Broker } from '../gateway/broker.ts';
import { EventPublisher } from '../gateway/events/publisher.ts';
import { eventRoutes } from '../gateway/events/routes.ts';
import { type HealthReport, HttpPart } from '../gateway/http.ts';
import { resolveGatewayId } from '../gateway/identity.ts';
import { Ingest, laterBroker } from '../gateway/ingest.ts';
import { ingestCounters } from '../gateway/ingest-metrics.ts';
import { Limits } from '../gateway/limits/index.ts';
import type { Part } from '../gateway/part.ts';
import { deviceRoutes } from '../gateway/registry/http.ts';
import { DeviceRegistry } from '../gateway/registry/registry.ts';
import { routeWarnings } from '../gateway/route-check.ts';
import { BudgetKeeper } from '../gateway/store/budget.ts';
import { storeMetrics } from '../gateway/store/metrics.ts';
import { Store } from '../gateway/store/store.ts';
import { SystemInfo, systemMetrics } from '../gateway/system.ts';
import type { GatewayConfig } from './config/schema.ts';
import { BacklogMeter, KafkaErrorHistory, type Readiness, readiness } from './health.ts';

export type PartStage = 'before-broker' | 'after-broker';

/** The version in package.json, for /healthz and gateway_build_info. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

export interface GatewayEvents {
  /** The store can take no more writes: app/main.ts exits so a fresh process reopens it. */
  fatal: [err: Error];
}

export class Gateway extends EventEmitter<GatewayEvents> {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly registry = new Registry();
  readonly dataDir: string;
  gatewayId = '';
  /** Where the gateway id came from: config, balena (BALENA_DEVICE_UUID), store or generated on this start. */
  gatewayIdSource = '';
  store!: Store;
  ingest!: Ingest;
  broker!: Broker;
  http!: HttpPart;
  limits!: Limits;
  forwarder!: Forwarder;
  /** The downlink's commands until acknowledged or expired (with the downlink only); the broker reports to it. */
  commands: CommandTracking | undefined;
  /** Client and command events to Kafka (docs/events.md); the EventRecorder of every part that raises events. */
  events!: EventPublisher;
  /** Per device: first and last seen, online, address, counts (GET /api/devices). */
  devices!: DeviceRegistry;
  /** Kafka brokers, TLS and SASL as every Kafka client of the gateway (sinks, downlink) connects. */
  kafka!: KafkaConnection;
  /** Version, uptime and the data disk for /healthz and /metrics. */
  readonly system: SystemInfo;
  /** The outbox's recent in and out rates (started with the forwarder). */
  private backlogMeter: BacklogMeter | undefined;
  /** The recent Kafka errors: the current one is in /healthz only while the link is not up. */
  private readonly kafkaErrors = new KafkaErrorHistory();
  /** The parts started so far, in order; stop() stops them in reverse. */
  private readonly started: Part[] = [];
  /** Optional parts by stage: flows start before the broker accepts publishes (so a replayed or new message always
   * finds its flow input), adapters and the downlink after it (they subscribe and publish through the broker). */
  private readonly extras: { stage: PartStage; factory: (gw: Gateway) => Part | undefined }[] = [];

  constructor(config: GatewayConfig, log: Logger) {
    super();
    this.config = config;
    this.log = log;
    this.dataDir = resolve(config.dataDir);
    this.system = new SystemInfo({ dataDir: this.dataDir, storeDir: join(this.dataDir, 'store'), version: VERSION });
  }

  use(factory: (gw: Gateway) => Part | undefined, stage: PartStage = 'after-broker'): this {
    this.extras.push({ stage, factory });
    return this;
  }

  /**
   * Builds and starts the parts in the order a message travels: the store first (everything else writes to it),
   * then ingest, HTTP, the budget keeper and the forwarder, the flows, the broker (publishes are accepted from here
   * on), then the adapters and the downlink.
   */
  async start(): Promise<void> {
    // TLS material is read (and a bad path reported, naming the key) before anything opens.
    this.kafka = kafkaConnection(this.config.kafka);
    for (const w of kafkaConnectionWarnings(this.kafka)) this.log.warn(w);
    mkdirSync(this.dataDir, { recursive: true });
    collectDefaultMetrics({ register: this.registry });
    this.store = this.buildStore();
    await this.run(this.store);
    // The store's metrics read its storage classes, which exist once it is open.
    storeMetrics(this.registry, this.store);
    systemMetrics(this.registry, this.system);
    this.gatewayId = await this.resolveGatewayId();
    this.ingest = this.buildIngest();
    this.limits = new Limits({
      config: this.config.security.limits,
      registry: this.registry,
      log: this.log.child({ part: 'limits' }),
    });
    // `auto` hosts: loopback only until authentication is configured (docs/security.md).
    const hosts = {
      mqtt: resolveHost(this.config.mqtt.host, this.config),
      http: resolveHost(this.config.http.host, this.config),
    };
    this.http = this.buildHttp(hosts.http);
    this.commands = this.buildCommands();
    this.broker = this.buildBroker(hosts);
    this.devices = this.buildDevices();
    this.forwarder = this.buildForwarder();
    const budget = new BudgetKeeper({ store: this.store, log: this.log.child({ part: 'budget' }) });
    // The registry loads before the broker raises events and flushes after it stopped (before the store closes).
    for (const part of [this.devices, this.http, budget, this.forwarder]) await this.run(part);
    const forwarder = this.forwarder;
    this.backlogMeter = new BacklogMeter(this.store, () => forwarder.forwarded, {
      linkUp: () => forwarder.state === 'up',
    });
    this.backlogMeter.start();
    await this.startExtras('before-broker');
    // After the flows (their inputs see the gateway_restart events), before the broker (the first connect).
    this.events = this.buildEvents();
    // The command events (message.delivered/acked/dropped) go the way of the broker's: to Kafka and the registry.
    this.commands?.on('event', (e) => {
      this.events.record(e);
      this.devices.onEvent(e);
    });
    await this.run(this.events);
    await this.run(this.broker);
    await this.startExtras('after-broker');
    this.logReady();
  }

  private buildStore(): Store {
    const c = this.config;
    const store = new Store({
      dir: join(this.dataDir, 'store'),
      durability: c.store.durability,
      groupCommit: c.store.groupCommit,
      compactAfterDeletes: c.store.compactAfterDeletes,
      maxOpenFiles: c.store.maxOpenFiles,
      classes: c.classes,
      maxRecordBytes: c.kafka.maxRecordBytes,
      log: this.log.child({ part: 'store' }),
    });
    store.on('fatal', (err) => this.emit('fatal', err));
    return store;
  }

  private buildIngest(): Ingest {
    const c = this.config;
    const flowsFile = flowsFileInUse(this.dataDir, c.flows);
    for (const w of routeWarnings(c.routes, flowsFile ? flowKafkaTopics(flowsFile) : [])) this.log.warn(w);
    return new Ingest({
      store: this.store,
      routes: [...c.routes, ...eventRoutes(c.events)],
      log: this.log.child({ part: 'ingest' }),
      counters: ingestCounters(this.registry),
      broker: laterBroker(() => this.broker),
    });
  }

  private buildHttp(host: string): HttpPart {
    return new HttpPart({
      host,
      port: this.config.http.port,
      registry: this.registry,
      log: this.log.child({ part: 'http' }),
      health: () => this.health(),
      ready: () => this.ready(),
      security: this.config.security.http,
      limits: this.limits,
    });
  }

  /** Built before the broker: a device that reconnects at once may acknowledge a command queued before a restart. */
  private buildCommands(): CommandTracking | undefined {
    if (!this.config.downlink.enabled || this.kafka.brokers.length === 0) return undefined;
    return new CommandTracking({
      db: this.store.meta,
      log: this.log.child({ part: 'downlink' }),
      metrics: this.registry,
    });
  }

  private buildBroker(hosts: { mqtt: string; http: string }): Broker {
    const c = this.config;
    return new Broker({
      config: { ...c.mqtt, host: hosts.mqtt },
      db: this.store.brokerDb(),
      ingest: this.ingest,
      http: this.http.server,
      auth: new Authority({
        security: c.security,
        mqtt: { host: hosts.mqtt, tls: c.mqtt.tls },
        http: { host: hosts.http },
        registry: this.registry,
        log: this.log.child({ part: 'auth' }),
      }),
      limits: this.limits,
      log: this.log.child({ part: 'broker' }),
      gatewayId: this.gatewayId,
      registry: this.registry,
      commands: this.commands?.pending,
    });
  }

  private buildDevices(): DeviceRegistry {
    const log = this.log.child({ part: 'devices' });
    const devices = new DeviceRegistry({ meta: () => this.store.meta, registry: this.registry, log });
    this.broker.on('event', (e) => devices.onEvent(e));
    this.ingest.on('accepted', (clientId) => devices.accepted(clientId));
    deviceRoutes(devices, (path, handler, method) => this.http.route(path, handler, method), this.broker, log);
    return devices;
  }

  private buildEvents(): EventPublisher {
    return new EventPublisher({
      config: this.config.events,
      bus: this.ingest,
      meta: this.store.meta,
      gatewayId: this.gatewayId,
      source: this.broker,
      registry: this.registry,
      log: this.log.child({ part: 'events' }),
    });
  }

  private buildForwarder(): Forwarder {
    const c = this.config;
    const sinkLog = this.log.child({ part: 'kafka' });
    const forwarder = new Forwarder({
      store: this.store,
      gatewayId: this.gatewayId,
      batch: c.kafka.batch,
      retry: c.kafka.retry,
      log: sinkLog,
      configured: this.kafka.brokers.length > 0,
      stallTimeoutMs: c.kafka.stallTimeoutMs,
      canaryIntervalMs: c.kafka.canary.intervalMs,
      headers: c.kafka.headers,
      createSink: () =>
        createSink(c.kafka.client, {
          brokers: this.kafka.brokers,
          clientId: c.kafka.clientId,
          compression: c.kafka.compression,
          requestTimeoutMs: c.kafka.requestTimeoutMs,
          tls: this.kafka.tls,
          sasl: this.kafka.sasl,
          log: sinkLog,
        }),
    });
    forwarderMetrics(this.registry, forwarder);
    forwarder.on('sendError', (err) => this.kafkaErrors.record(err.message));
    return forwarder;
  }

  private async startExtras(stage: PartStage): Promise<void> {
    for (const e of this.extras) {
      if (e.stage !== stage) continue;
      const part = e.factory(this);
      if (part) await this.run(part);
    }
  }

  private async run(part: Part): Promise<void> {
    await part.start();
    this.started.push(part);
  }

  private logReady(): void {
    const c = this.config;
    this.log.info(
      {
        gatewayId: this.gatewayId,
        gatewayIdFrom: this.gatewayIdSource,
        epoch: this.store.epoch,
        mqtt: this.broker.tcpPort,
        mqttTls: this.broker.tlsPort || undefined,
        http: this.http.port,
        durability: c.store.durability,
        kafka: c.kafka.brokers.join(',') || 'not configured',
        kafkaTls: this.kafka.tls !== undefined,
        sink: c.kafka.client,
        version: this.system.version,
      },
      'gateway ready',
    );
  }

  /** Stops the parts in reverse order: no new messages, then flush the group commit, close Kafka cleanly. */
  async stop(): Promise<void> {
    this.backlogMeter?.stop();
    while (this.started.length > 0) {
      const part = this.started.pop() as Part;
      try {
        await part.stop();
      } catch (err) {
        this.log.error({ err, part: part.name }, 'part failed to stop');
      }
    }
  }

  private async resolveGatewayId(): Promise<string> {
    const { id, source } = await resolveGatewayId({
      configured: this.config.gatewayId,
      env: process.env,
      meta: this.store.meta,
      freshStore: this.store.epochCreated,
      hostname: hostname(),
      log: this.log,
    });
    this.gatewayIdSource = source;
    return id;
  }

  /** /healthz: the core parts in their own sections, then every optional part by name. */
  health(): HealthReport {
    const { state: link, ...kafka } = this.forwarder.health();
    const { state: _store, ...store } = this.store.health();
    const { state: _broker, ...broker } = this.broker?.health() ?? { state: 'down', up: false, clients: 0 };
    const core = new Set<Part>([this.store, this.http, this.forwarder, this.broker]);
    const parts: Record<string, unknown> = {};
    for (const p of this.started) if (!core.has(p) && p.name !== 'budget') parts[p.name] = p.health();
    // A part whose health says `state: 'down'` (every adapter device offline, the downlink without Kafka) degrades
    // the gateway without failing the check: it still accepts and buffers. Only a broker that is not running is 503.
    const partsDown = Object.entries(parts)
      .filter(([, h]) => (h as { state?: unknown }).state === 'down')
      .map(([name]) => name);
    const linkOk = link === 'up' || link === 'not_configured';
    const backlog = this.store.outbox.backlog();
    const rates = this.backlogMeter?.rates(backlog.records, link === 'up');
    const disk = this.system.disk();
    return {
      // No brokers configured is a choice, not an outage: the box buffers as designed.
      status: !broker.up ? 'down' : linkOk && partsDown.length === 0 ? 'ok' : 'degraded',
      ...(partsDown.length > 0 ? { partsDown } : {}),
      gatewayId: this.gatewayId,
      version: this.system.version,
      startedAt: this.system.startedAt.toISOString(),
      uptimeSec: this.system.uptimeSec,
      broker,
      kafka: {
        ...kafka,
        // The error of the current outage only: once the link is up it stays in `errors` with its time.
        lastError: link === 'up' ? undefined : kafka.lastError,
        errors: this.kafkaErrors.list(),
        brokers: this.config.kafka.brokers,
        tls: this.kafka.tls !== undefined,
      },
      backlog: { ...backlog, inRate: 0, outRate: 0, drainEtaSec: null, ...rates },
      disk: { dataDir: this.dataDir, ...disk },
      store,
      ...parts,
    };
  }

  /** /readyz: the broker accepts and the store is writable. */
  ready(): Readiness {
    return readiness({
      brokerUp: this.broker?.health().up ?? false,
      storeState: this.store?.health().state ?? 'stopped',
      diskFreeBytes: this.system.disk().freeBytes,
    });
  }
}
