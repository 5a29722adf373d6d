// The ingest path's Prometheus metrics. Hot path: plain integers per message; prom-client gets the deltas at
// scrape time, and the refused counter is bound per reason.
import { Counter, type Registry } from 'prom-client';

export interface IngestCounters {
  received(qos: number): void;
  routed(route: string, n: number): void;
  refused(reason: string): void;
  unrouted(): void;
}

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
