// Prometheus metrics of the adapters, registered on the registry the gateway hands in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  // A second Adapters on the same registry (a restart in tests) reuses the metric instead of throwing.
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class AdapterMetrics {
  readonly online: Gauge<'kind' | 'device'>;
  readonly errors: Counter<'kind' | 'device' | 'reason'>;
  readonly values: Counter<'kind' | 'device'>;
  readonly reconnects: Counter<'kind' | 'port'>;
  readonly requests: Counter<'device' | 'result'>;
  readonly pollSeconds: Histogram<'device'>;
  readonly writes: Counter<'device' | 'result'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.online = reuse(
      registry,
      'gateway_adapter_online',
      () =>
        new Gauge({
          name: 'gateway_adapter_online',
          help: 'Adapter device status: 1 online, 0 offline.',
          labelNames: ['kind', 'device'],
          registers,
        }),
    );
    this.errors = reuse(
      registry,
      'gateway_adapter_errors_total',
      () =>
        new Counter({
          name: 'gateway_adapter_errors_total',
          help: 'Adapter errors by reason (timeout, crc, exception, port, io, checksum, format, json, overflow, publish).',
          labelNames: ['kind', 'device', 'reason'],
          registers,
        }),
    );
    this.values = reuse(
      registry,
      'gateway_adapter_values_total',
      () =>
        new Counter({
          name: 'gateway_adapter_values_total',
          help: 'Values published by adapters.',
          labelNames: ['kind', 'device'],
          registers,
        }),
    );
    this.reconnects = reuse(
      registry,
      'gateway_adapter_reconnects_total',
      () =>
        new Counter({
          name: 'gateway_adapter_reconnects_total',
          help: 'Failed opens and lost connections of serial ports and Modbus buses.',
          labelNames: ['kind', 'port'],
          registers,
        }),
    );
    this.requests = reuse(
      registry,
      'gateway_modbus_requests_total',
      () =>
        new Counter({
          name: 'gateway_modbus_requests_total',
          help: 'Modbus requests by result (ok, timeout, crc, exception, port, io).',
          labelNames: ['device', 'result'],
          registers,
        }),
    );
    this.pollSeconds = reuse(
      registry,
      'gateway_modbus_poll_seconds',
      () =>
        new Histogram({
          name: 'gateway_modbus_poll_seconds',
          help: 'Duration of one poll of a Modbus device (all its reads).',
          labelNames: ['device'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
    );
    this.writes = reuse(
      registry,
      'gateway_modbus_writes_total',
      () =>
        new Counter({
          name: 'gateway_modbus_writes_total',
          help: 'Write commands by result (ok, invalid, exception, timeout, …).',
          labelNames: ['device', 'result'],
          registers,
        }),
    );
  }
}
