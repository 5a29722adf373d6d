// Prometheus metrics of the adapters, registered on the registry the gateway hands in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
    // A second Adapters on the same registry (a restart in tests) reuses the metric instead of throwing.
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers });
    this.online =
      (registry.getSingleMetric('gateway_adapter_online') as Gauge<'kind' | 'device'> | undefined) ??
      new Gauge({
        name: 'gateway_adapter_online',
        help: 'Adapter device status: 1 online, 0 offline.',
        labelNames: ['kind', 'device'],
        registers,
      });
    this.errors = counter(
      'gateway_adapter_errors_total',
      'Adapter errors by reason (timeout, crc, exception, port, io, checksum, format, json, overflow, publish).',
      ['kind', 'device', 'reason'],
    );
    this.values = counter('gateway_adapter_values_total', 'Values published by adapters.', ['kind', 'device']);
    this.reconnects = counter(
      'gateway_adapter_reconnects_total',
      'Failed opens and lost connections of serial ports and Modbus buses.',
      ['kind', 'port'],
    );
    this.requests = counter(
      'gateway_modbus_requests_total',
      'Modbus requests by result (ok, timeout, crc, exception, port, io).',
      ['device', 'result'],
    );
    this.pollSeconds =
      (registry.getSingleMetric('gateway_modbus_poll_seconds') as Histogram<'device'> | undefined) ??
      new Histogram({
        name: 'gateway_modbus_poll_seconds',
        help: 'Duration of one poll of a Modbus device (all its reads).',
        labelNames: ['device'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers,
      });
    this.writes = counter(
      'gateway_modbus_writes_total',
      'Write commands by result (ok, invalid, exception, timeout, …).',
      ['device', 'result'],
    );
  }
}
