// Start-time checks of the routes, for defaults that would silently change the data path: no route takes every
// topic (anything else is acknowledged and dropped), or a route and a flow write the same Kafka topic (each message
// lands there twice, in two formats).
import type { RouteConfig } from './config/schema.ts';

export interface FlowOutputRef {
  flow: string;
  kafkaTopic: string;
}

export function routeWarnings(routes: readonly RouteConfig[], flowOutputs: readonly FlowOutputRef[]): string[] {
  const out: string[] = [];
  if (!routes.some((r) => r.filter === '#' && r.minQos === 0)) {
    out.push(
      'no route takes every topic (filter "#"): a publish that matches no route and no flow input is acknowledged ' +
        'and dropped (logged once per topic a minute, counted in gateway_ingress_unrouted_total)',
    );
  }
  routes.forEach((r, i) => {
    for (const f of flowOutputs) {
      if (f.kafkaTopic !== r.topic) continue;
      out.push(
        `routes[${i}] (${r.name ?? r.filter}) and the flow "${f.flow}" both write the Kafka topic ${r.topic}: ` +
          'a message both take lands there twice',
      );
    }
  });
  return out;
}
