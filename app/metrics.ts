// Prometheus metrics of the durable path. Gauges are read at scrape time from the parts' own state, and counters
// are pre-bound to their labels, so the per-message cost is one increment.
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import type { Forwarder } from '../cloud-sync/forwarder.ts';
import type { Broker } from '../gateway/broker.ts';
import type { IngestCounters } from '../gateway/ingest.ts';
import type { DropReason, Store } from '../gateway/store/store.ts';

export function ingestCounters(registry: Registry): IngestCounters {
  // Hot path: plain integers per message; prom-client gets the deltas at scrape time.
  const byQos = [0, 0, 0];
  const reportedQos = [0, 0, 0];
  const byRoute = new Map<string, number>();
  const reportedRoute = new Map<string, number>();
  new Counter({
    name: 'gateway_ingress_messages_total',
    help: 'Messages received from devices and in-process sources, by QoS.',
    labelNames: ['qos'],
    registers: [registry],
    collect() {
      for (let q = 0; q < 3; q++) {
        this.inc({ qos: String(q) }, (byQos[q] as number) - (reportedQos[q] as number));
        reportedQos[q] = byQos[q] as number;
      }
    },
  });
  new Counter({
    name: 'gateway_routed_records_total',
    help: 'Outbox records appended, by route.',
    labelNames: ['route'],
    registers: [registry],
    collect() {
      for (const [route, n] of byRoute) {
        this.inc({ route }, n - (reportedRoute.get(route) ?? 0));
        reportedRoute.set(route, n);
      }
    },
  });
  const refused = new Counter({
    name: 'gateway_ingress_refused_total',
    help: 'Messages refused at ingest (not acknowledged), by reason code.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const unrouted = new Counter({
    name: 'gateway_ingress_unrouted_total',
    help: 'Messages that matched no route and no flow input.',
    registers: [registry],
  });
  return {
    received: (qos) => {
      byQos[qos] = (byQos[qos] ?? 0) + 1;
    },
    routed: (route, n) => {
      byRoute.set(route, (byRoute.get(route) ?? 0) + n);
    },
    refused: (reason) => refused.labels(reason).inc(),
    unrouted: () => unrouted.inc(),
  };
}

export function storeMetrics(registry: Registry, store: Store): void {
  const lanes = [...store.lanes.values()];
  new Gauge({
    name: 'gateway_backlog_records',
    help: 'Records in the outbox waiting for Kafka, by lane (storage class).',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const l of lanes) this.set({ lane: l.name }, l.count);
    },
  });
  new Gauge({
    name: 'gateway_backlog_bytes',
    help: 'Bytes in the outbox waiting for Kafka, by lane.',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const l of lanes) this.set({ lane: l.name }, l.bytes);
    },
  });
  new Gauge({
    name: 'gateway_backlog_budget_bytes',
    help: 'Disk budget of each lane.',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const l of lanes) this.set({ lane: l.name }, l.budget.maxBytes);
    },
  });
  new Gauge({
    name: 'gateway_backlog_oldest_age_seconds',
    help: 'Age of the oldest record waiting in each lane (0 when empty).',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      const now = Date.now();
      for (const l of lanes) this.set({ lane: l.name }, l.count > 0 && l.oldestTs > 0 ? (now - l.oldestTs) / 1000 : 0);
    },
  });
  const dropped = new Counter({
    name: 'gateway_dropped_records_total',
    help: 'Records dropped or refused, by lane and reason (budget, ttl, rejected, too_large).',
    labelNames: ['lane', 'reason'],
    registers: [registry],
  });
  for (const l of lanes)
    for (const r of ['budget', 'ttl', 'rejected', 'too_large', 'device_share']) dropped.labels(l.name, r).inc(0);
  const commitSize = new Histogram({
    name: 'gateway_group_commit_records',
    help: 'Records (outbox and journal) per group commit.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
    registers: [registry],
  });
  store.events.onCommit = (records) => commitSize.observe(records);
  const writeErrors = new Counter({
    name: 'gateway_store_write_errors_total',
    help: 'Failed group commits (disk full, I/O error); their messages were not acknowledged.',
    registers: [registry],
  });
  store.events.onWriteError = () => writeErrors.inc();
  store.events.onDrop = (lane: string, reason: DropReason, records: number) =>
    dropped.labels(lane, reason).inc(records);
}

export function forwarderMetrics(registry: Registry, fwd: Forwarder): void {
  const forwarded = new Counter({
    name: 'gateway_forwarded_records_total',
    help: 'Records acknowledged by Kafka, by lane.',
    labelNames: ['lane'],
    registers: [registry],
  });
  const forwardedBytes = new Counter({
    name: 'gateway_forwarded_bytes_total',
    help: 'Stored bytes of the records acknowledged by Kafka, by lane.',
    labelNames: ['lane'],
    registers: [registry],
  });
  const sendSeconds = new Histogram({
    name: 'gateway_kafka_send_seconds',
    help: 'Time from sending a batch to Kafka to its acknowledgement.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'gateway_kafka_send_errors_total',
    help: 'Failed connects or sends to Kafka (each is retried with backoff).',
    registers: [registry],
  });
  new Gauge({
    name: 'gateway_kafka_configured',
    help: '0 when kafka.brokers is empty: records are buffered by design, not because of an outage.',
    registers: [registry],
    collect() {
      this.set(fwd.state === 'not_configured' ? 0 : 1);
    },
  });
  new Gauge({
    name: 'gateway_kafka_connected',
    help: '1 when the last Kafka send or connect succeeded.',
    registers: [registry],
    collect() {
      this.set(fwd.state === 'up' ? 1 : 0);
    },
  });
  fwd.events.onForwarded = (lane, records, bytes, ms) => {
    forwarded.labels(lane).inc(records);
    forwardedBytes.labels(lane).inc(bytes);
    sendSeconds.observe(ms / 1000);
  };
  fwd.events.onSendError = () => errors.inc();
}

export function brokerMetrics(registry: Registry, broker: Broker): void {
  new Gauge({
    name: 'gateway_mqtt_clients_connected',
    help: 'MQTT clients connected.',
    registers: [registry],
    collect() {
      this.set(broker.connectedClients);
    },
  });
}

export function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
}
