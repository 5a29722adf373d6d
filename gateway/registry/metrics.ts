// The device registry's metrics: devices known and online (read when scraped), command acknowledgement latency,
// devices forgotten to keep the registry bounded.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface RegistryMetrics {
  ackSeconds: Histogram;
  evicted: Counter;
}

export function registryMetrics(
  registry: Registry,
  read: { known: () => number; online: () => number },
): RegistryMetrics {
  new Gauge({
    name: 'gateway_devices_known',
    help: 'Devices (MQTT client ids) the device registry knows.',
    registers: [registry],
    collect() {
      this.set(read.known());
    },
  });
  new Gauge({
    name: 'gateway_devices_online',
    help: 'Devices the device registry shows online.',
    registers: [registry],
    collect() {
      this.set(read.online());
    },
  });
  return {
    ackSeconds: new Histogram({
      name: 'gateway_command_ack_seconds',
      help: "From a command's arrival at the gateway to the device's acknowledgement (message.acked).",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    evicted: new Counter({
      name: 'gateway_registry_evicted_total',
      help: 'Devices the registry forgot, least recently seen first, to stay within its bound.',
      registers: [registry],
    }),
  };
}
