// The store's Prometheus metrics: backlog gauges read at scrape time from the storage classes, drops by class and
// reason, group commit sizes and write errors from the store's events.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DropReason } from './admission.ts';
import type { Store } from './store.ts';

const DROP_REASONS: readonly DropReason[] = ['budget', 'ttl', 'rejected', 'too_large', 'device_share'];

export function storeMetrics(registry: Registry, store: Store): void {
  const classes = [...store.outbox.classes.values()];
  new Gauge({
    name: 'gateway_backlog_records',
    help: 'Records in the outbox waiting for Kafka, by storage class.',
    labelNames: ['class'],
    registers: [registry],
    collect() {
      for (const c of classes) this.set({ class: c.name }, c.count);
    },
  });
  new Gauge({
    name: 'gateway_backlog_bytes',
    help: 'Bytes in the outbox waiting for Kafka, by storage class.',
    labelNames: ['class'],
    registers: [registry],
    collect() {
      for (const c of classes) this.set({ class: c.name }, c.bytes);
    },
  });
  new Gauge({
    name: 'gateway_backlog_budget_bytes',
    help: 'Disk budget of each storage class.',
    labelNames: ['class'],
    registers: [registry],
    collect() {
      for (const c of classes) this.set({ class: c.name }, c.budget.maxBytes);
    },
  });
  new Gauge({
    name: 'gateway_backlog_oldest_age_seconds',
    help: 'Age of the oldest record waiting in each storage class (0 when empty).',
    labelNames: ['class'],
    registers: [registry],
    collect() {
      const now = Date.now();
      for (const c of classes)
        this.set({ class: c.name }, c.count > 0 && c.oldestTs > 0 ? (now - c.oldestTs) / 1000 : 0);
    },
  });
  const dropped = new Counter({
    name: 'gateway_dropped_records_total',
    help: 'Records dropped or refused, by storage class and reason (budget, ttl, rejected, too_large, device_share).',
    labelNames: ['class', 'reason'],
    registers: [registry],
  });
  for (const c of classes) for (const r of DROP_REASONS) dropped.labels(c.name, r).inc(0);
  const commitSize = new Histogram({
    name: 'gateway_group_commit_records',
    help: 'Records (outbox and journal) per group commit.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
    registers: [registry],
  });
  const writeErrors = new Counter({
    name: 'gateway_store_write_errors_total',
    help: 'Failed group commits (disk full, I/O error); their messages were not acknowledged.',
    registers: [registry],
  });
  store.on('commit', (records) => commitSize.observe(records));
  store.on('writeError', () => writeErrors.inc());
  store.on('drop', (cls, reason, records) => dropped.labels(cls, reason).inc(records));
}
