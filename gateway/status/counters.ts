// The running totals the status page turns into rates, read from the gateway's Prometheus registry (the same numbers
// /metrics shows): records appended to the outbox, records Kafka acknowledged, records dropped per storage class.
import type { Registry } from 'prom-client';

export interface StatusCounters {
  /** Outbox records appended (gateway_routed_records_total, every route). */
  in: number;
  /** Records acknowledged by Kafka (gateway_forwarded_records_total, every class). */
  out: number;
  /** Records dropped or refused per storage class (gateway_dropped_records_total, every reason). */
  dropped: Record<string, number>;
}

type Values = { value: number; labels: Record<string, string | number | undefined> }[];

async function values(registry: Registry, name: string): Promise<Values> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return ((await metric.get()) as { values: Values }).values;
}

function sum(vs: Values): number {
  let n = 0;
  for (const v of vs) n += v.value;
  return n;
}

/** A reader of the totals; a metric that is not registered counts 0. */
export function registryCounters(registry: Registry): () => Promise<StatusCounters> {
  return async () => {
    const [routed, forwarded, dropped] = await Promise.all([
      values(registry, 'gateway_routed_records_total'),
      values(registry, 'gateway_forwarded_records_total'),
      values(registry, 'gateway_dropped_records_total'),
    ]);
    const byClass: Record<string, number> = {};
    for (const v of dropped) {
      const cls = String(v.labels['class'] ?? '');
      byClass[cls] = (byClass[cls] ?? 0) + v.value;
    }
    return { in: sum(routed), out: sum(forwarded), dropped: byClass };
  };
}
