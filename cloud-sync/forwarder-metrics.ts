// The forwarder's Prometheus metrics: records and bytes Kafka acknowledged by storage class, send latency and
// errors, stalls and canaries from its events, and the link state read at scrape time.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Forwarder } from './forwarder.ts';

export function forwarderMetrics(registry: Registry, fwd: Forwarder): void {
  const forwarded = new Counter({
    name: 'gateway_forwarded_records_total',
    help: 'Records acknowledged by Kafka, by storage class.',
    labelNames: ['class'],
    registers: [registry],
  });
  const forwardedBytes = new Counter({
    name: 'gateway_forwarded_bytes_total',
    help: 'Stored bytes of the records acknowledged by Kafka, by storage class.',
    labelNames: ['class'],
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
  const stalls = new Counter({
    name: 'gateway_kafka_stalls_total',
    help: 'Times Kafka stopped answering (a connect, a send with records waiting, or a canary) for kafka.stallTimeoutMs; each recycled the producer.',
    registers: [registry],
  });
  new Gauge({
    name: 'gateway_kafka_stalled',
    help: '1 while the Kafka link is stalled: no answer within kafka.stallTimeoutMs, whether the connection looks up or not.',
    registers: [registry],
    collect() {
      this.set(fwd.state === 'stalled' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gateway_kafka_last_success_timestamp_seconds',
    help: 'Unix time of the last send Kafka acknowledged (0: none since the start).',
    registers: [registry],
    collect() {
      this.set(fwd.lastSuccessAt / 1000);
    },
  });
  const canarySeconds = new Gauge({
    name: 'gateway_kafka_canary_seconds',
    help: 'Latency of the last successful canary (a metadata round trip to Kafka while no records flow).',
    registers: [registry],
  });
  const canaryFailures = new Counter({
    name: 'gateway_kafka_canary_failures_total',
    help: 'Canaries that failed or got no answer within kafka.stallTimeoutMs.',
    registers: [registry],
  });
  fwd.on('stall', () => stalls.inc());
  fwd.on('canary', (seconds, err) => {
    if (err) canaryFailures.inc();
    else canarySeconds.set(seconds);
  });
  fwd.on('forwarded', (cls, records, bytes, ms) => {
    forwarded.labels(cls).inc(records);
    forwardedBytes.labels(cls).inc(bytes);
    sendSeconds.observe(ms / 1000);
  });
  fwd.on('sendError', () => errors.inc());
}
