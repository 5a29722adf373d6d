// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
// The built-in routes of the events: each event's in-process topic (`$events/client_connected`...) to its Kafka
// topic (`events.topic`, or `events.topics.<name>`), keyed by client id, in the events' storage class. They are
// added to the configured routes at start, so events take the path of any publish: stamped, admitted against their
// class's budget, journaled for flow inputs and forwarded in order per class.
import type { EventsConfig, RouteConfig } from '../config/schema.ts';
import { eventTopic, type GatewayEventName } from './types.ts';

/** Every event name, in the order docs/events.md lists them. */
export const EVENT_NAMES: readonly GatewayEventName[] = [
  'client.connected',
  'client.disconnected',
  'client.connack',
  'session.subscribed',
  'session.unsubscribed',
  'message.delivered',
  'message.acked',
  'message.dropped',
];

/**
 * One route per event name when some event has a topic of its own (a message goes to every route it matches, so one
 * `$events/#` route beside them would send those events twice), else one route for `$events/#`.
 */
export function eventRoutes(cfg: EventsConfig): RouteConfig[] {
  if (!cfg.enabled) return [];
  const base = { key: '${clientid}', format: 'raw', class: cfg.class, minQos: 0 } as const;
  if (Object.keys(cfg.topics).length === 0) return [{ name: 'events', filter: '$events/#', topic: cfg.topic, ...base }];
  return EVENT_NAMES.map((name) => ({
    name: `events:${name}`,
    filter: eventTopic(name),
    topic: cfg.topics[name] ?? cfg.topic,
    ...base,
  }));
}
