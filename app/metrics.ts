// Prometheus metrics that belong to no part of the data path: the process's own, and the broker's client gauge.
// The store (gateway/store/metrics.ts), the ingest path (gateway/ingest-metrics.ts) and the forwarder
// (cloud-sync/forwarder-metrics.ts) register theirs. Gauges are read at scrape time from the parts' own state.
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import type { Broker } from '../gateway/broker.ts';

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
