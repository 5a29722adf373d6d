// The composition root's core: builds the parts from the validated config, starts them in order and stops them in
// reverse. Constructors do no I/O; everything happens in start().
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { Forwarder } from '../cloud-sync/forwarder.ts';
import { forwarderMetrics } from '../cloud-sync/forwarder-metrics.ts';
import { type KafkaConnection, kafkaConnection, kafkaConnectionWarnings } from '../cloud-sync/kafka-connection.ts';
import { createSink } from '../cloud-sync/sinks/index.ts';
import { flowKafkaTopics, flowsFileInUse } from '../flows/kafka-topics.ts';
import { resolveHost } from '../gateway/auth/exposure.ts';
import { Authority } from '../gateway/auth/index.ts';
import { Broker } from '../gateway/broker.ts';
import { offlineQueueMetrics, offlineQueueStats } from '../gateway/broker-persistence.ts';
import { type HealthReport, HttpPart } from '../gateway/http.ts';
import { resolveGatewayId } from '../gateway/identity.ts';
import { Ingest, laterBroker } from '../gateway/ingest.ts';
import { ingestCounters } from '../gateway/ingest-metrics.ts';
import { Limits } from '../gateway/limits/index.ts';
import { routeWarnings } from '../gateway/route-check.ts';
import { BudgetKeeper } from '../gateway/store/budget.ts';
import { storeMetrics } from '../gateway/store/metrics.ts';
import { Store } from '../gateway/store/store.ts';
import type { GatewayConfig } from './config/schema.ts';
import { brokerMetrics, processMetrics } from './metrics.ts';

export type PartStage = 'before-broker' | 'after-broker';

export interface Part {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  health?(): Record<string, unknown>;
}

export class Gateway {
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
  /** Kafka brokers, TLS and SASL as every Kafka client of the gateway (sinks, downlink) connects. */
  kafka!: KafkaConnection;
  private readonly started: Part[] = [];
  /** Called when the store can take no more writes; app/main.ts exits so a fresh process reopens it. */
  onFatal: (err: Error) => void = () => {};
  /** Extra parts: flows start before the broker accepts publishes (so a replayed or new message always finds its
   * flow input), adapters after it (they subscribe to the broker). */
  private readonly extras: { stage: PartStage; factory: (gw: Gateway) => Part | undefined }[] = [];

  constructor(config: GatewayConfig, log: Logger) {
    this.config = config;
    this.log = log;
    this.dataDir = resolve(config.dataDir);
  }

  use(factory: (gw: Gateway) => Part | undefined, stage: PartStage = 'after-broker'): this {
    this.extras.push({ stage, factory });
    return this;
  }

  private async startExtras(stage: PartStage): Promise<void> {
    for (const e of this.extras) {
      if (e.stage !== stage) continue;
      const part = e.factory(this);
      if (part) await this.run(part);
    }
  }

  async start(): Promise<void> {
    const c = this.config;
    // TLS material is read (and a bad path reported, naming the key) before anything opens.
    this.kafka = kafkaConnection(c.kafka);
    for (const w of kafkaConnectionWarnings(this.kafka)) this.log.warn(w);
    mkdirSync(this.dataDir, { recursive: true });
    this.store = new Store({
      dir: join(this.dataDir, 'store'),
      durability: c.store.durability,
      groupCommit: c.store.groupCommit,
      compactAfterDeletes: c.store.compactAfterDeletes,
      classes: c.classes,
      maxRecordBytes: c.kafka.maxRecordBytes,
      log: this.log.child({ part: 'store' }),
    });
    await this.run({ name: 'store', start: () => this.store.start(), stop: () => this.store.stop() });
    this.gatewayId = await this.resolveGatewayId();
    processMetrics(this.registry);
    storeMetrics(this.registry, this.store);
    this.store.on('fatal', (err) => this.onFatal(err));
    this.ingest = new Ingest({
      store: this.store,
      routes: c.routes,
      log: this.log.child({ part: 'ingest' }),
      counters: ingestCounters(this.registry),
      broker: laterBroker(() => this.broker),
    });
    const flowsFile = flowsFileInUse(this.dataDir, c.flows);
    for (const w of routeWarnings(c.routes, flowsFile ? flowKafkaTopics(flowsFile) : [])) this.log.warn(w);
    this.limits = new Limits({
      config: c.security.limits,
      registry: this.registry,
      log: this.log.child({ part: 'limits' }),
    });
    // `auto` hosts: loopback only until authentication is configured (docs/security.md).
    const mqttHost = resolveHost(c.mqtt.host, c);
    const httpHost = resolveHost(c.http.host, c);
    this.http = new HttpPart({
      host: httpHost,
      port: c.http.port,
      registry: this.registry,
      log: this.log.child({ part: 'http' }),
      health: () => this.health(),
      security: c.security.http,
      limits: this.limits,
    });
    this.broker = new Broker({
      config: { ...c.mqtt, host: mqttHost },
      db: this.store.brokerDb(),
      ingest: this.ingest,
      http: this.http.server,
      auth: new Authority({
        security: c.security,
        mqtt: { host: mqttHost, tls: c.mqtt.tls },
        http: { host: httpHost },
        registry: this.registry,
        log: this.log.child({ part: 'auth' }),
      }),
      limits: this.limits,
      log: this.log.child({ part: 'broker' }),
      gatewayId: this.gatewayId,
    });
    brokerMetrics(this.registry, this.broker);
    offlineQueueMetrics(this.registry, () => offlineQueueStats(this.broker.aedes));
    const budget = new BudgetKeeper({ store: this.store, log: this.log.child({ part: 'budget' }) });
    const sinkLog = this.log.child({ part: 'kafka' });
    this.forwarder = new Forwarder({
      store: this.store,
      gatewayId: this.gatewayId,
      batch: c.kafka.batch,
      retry: c.kafka.retry,
      log: sinkLog,
      configured: this.kafka.brokers.length > 0,
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
    forwarderMetrics(this.registry, this.forwarder);
    await this.run({ name: 'http', start: () => this.http.start(), stop: () => this.http.stop() });
    await this.run({ name: 'budget', start: () => budget.start(), stop: () => budget.stop() });
    await this.run({ name: 'forwarder', start: () => this.forwarder.start(), stop: () => this.forwarder.stop() });
    await this.startExtras('before-broker');
    await this.run({ name: 'broker', start: () => this.broker.start(), stop: () => this.broker.stop() });
    await this.startExtras('after-broker');
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
      },
      'gateway ready',
    );
  }

  private async run(part: Part): Promise<void> {
    await part.start();
    this.started.push(part);
  }

  /** Stops the parts in reverse order: no new messages, then flush the group commit, close Kafka cleanly. */
  async stop(): Promise<void> {
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

  health(): HealthReport {
    const { state: link, ...kafka } = this.forwarder.health();
    const { state: _store, ...store } = this.store.health();
    const parts: Record<string, unknown> = {};
    for (const p of this.started) if (p.health) parts[p.name] = p.health();
    const brokerUp = this.broker?.aedes !== undefined;
    // A part whose health says `state: 'down'` (every adapter device offline, the downlink without Kafka) degrades
    // the gateway without failing the check: it still accepts and buffers. Only a broker that is not running is 503.
    const partsDown = Object.entries(parts)
      .filter(([, h]) => (h as { state?: unknown }).state === 'down')
      .map(([name]) => name);
    const linkOk = link === 'up' || link === 'not_configured';
    return {
      // No brokers configured is a choice, not an outage: the box buffers as designed.
      status: !brokerUp ? 'down' : linkOk && partsDown.length === 0 ? 'ok' : 'degraded',
      ...(partsDown.length > 0 ? { partsDown } : {}),
      gatewayId: this.gatewayId,
      broker: {
        up: brokerUp,
        clients: this.broker?.connectedClients ?? 0,
        offlineQueue: offlineQueueStats(this.broker?.aedes),
      },
      kafka: { ...kafka, brokers: this.config.kafka.brokers, tls: this.kafka.tls !== undefined },
      backlog: this.store.outbox.backlog(),
      store,
      ...parts,
    };
  }
}
