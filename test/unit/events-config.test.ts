// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
// The events section: its problems named by key, the class it needs, and the built-in routes it adds (one route for
// `$events/#`, or one per event once an event has a topic of its own, so no event is sent twice). `#` routes do not
// take `$events/...` topics [MQTT-4.7.2-1]: events never leak into the uplink.
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../app/config/load.ts';
import { EVENT_NAMES, eventRoutes } from '../../gateway/events/routes.ts';
import { eventTopic } from '../../gateway/events/types.ts';
import { compileFilter } from '../../gateway/topic.ts';

function problems(raw: unknown): string[] {
  try {
    resolveConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('events config', () => {
  it('names each problem by its key', () => {
    expect(
      problems({
        events: { topic: 'bad topic', topics: { 'client.disconected': 'x', 'client.connected': 'a/b' }, class: 'gone' },
      }),
    ).toEqual([
      'events.topic: "bad topic" is not a legal Kafka topic name (allowed: a-z A-Z 0-9 . _ -)',
      'events.topics.client.disconected: unknown event "client.disconected" (known: client.connected, client.disconnected, client.connack, session.subscribed, session.unsubscribed, message.delivered, message.acked, message.dropped)',
      'events.topics.client.connected: "a/b" is not a legal Kafka topic name (allowed: a-z A-Z 0-9 . _ -)',
      'events.class: unknown class "gone" (known: default, events)',
    ]);
    expect(problems({ events: { enabled: false, class: 'gone' } })).toEqual([]);
  });

  it('keeps a configured events class; the default one exists beside other classes', () => {
    const own = resolveConfig({ classes: { events: { maxBytes: 1000, policy: 'drop-oldest' } } });
    expect(own.classes.events).toMatchObject({ maxBytes: 1000, policy: 'drop-oldest' });
    const other = resolveConfig({ classes: { audit: { policy: 'drop-oldest' } }, events: { class: 'audit' } });
    expect(Object.keys(other.classes).sort()).toEqual(['audit', 'default', 'events']);
    expect(eventRoutes(other.events)[0]?.class).toBe('audit');
  });

  it('routes every event once, to its own topic when it has one', () => {
    const one = eventRoutes(resolveConfig({}).events);
    expect(one).toEqual([
      {
        name: 'events',
        filter: '$events/#',
        topic: 'edge.events',
        key: '${clientid}',
        format: 'raw',
        class: 'events',
        minQos: 0,
      },
    ]);
    const cfg = resolveConfig({ events: { topics: { 'client.disconnected': 'edge.disconnects' } } }).events;
    const routes = eventRoutes(cfg);
    for (const name of EVENT_NAMES) {
      const matching = routes.filter((r) => compileFilter(r.filter)(eventTopic(name)));
      expect(matching.map((r) => r.topic)).toEqual([
        name === 'client.disconnected' ? 'edge.disconnects' : 'edge.events',
      ]);
    }
    expect(eventRoutes(resolveConfig({ events: { enabled: false } }).events)).toEqual([]);
  });

  it('keeps events out of the `#` and `+/...` routes', () => {
    for (const filter of ['#', '+/client_connected', '+/#']) {
      expect(compileFilter(filter)(eventTopic('client.connected'))).toBe(false);
    }
  });
});
