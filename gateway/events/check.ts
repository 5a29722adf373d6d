// Config rules of the `events` section that its schema cannot express: legal Kafka topics, known event names, a
// storage class that exists. Tolerates values the schema already rejected; problems are named by key.
import { kafkaTopicProblem } from '../kafka-topic.ts';
import { EVENT_NAMES } from './routes.ts';

interface Problem {
  path: string;
  message: string;
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export function eventsProblems(section: unknown, classes: unknown): Problem[] {
  const out: Problem[] = [];
  const events = obj(section);
  if (typeof events.topic === 'string') {
    const p = kafkaTopicProblem(events.topic);
    if (p) out.push({ path: 'events.topic', message: p });
  }
  for (const [name, topic] of Object.entries(obj(events.topics))) {
    const path = `events.topics.${name}`;
    if (!(EVENT_NAMES as readonly string[]).includes(name)) {
      out.push({ path, message: `unknown event ${JSON.stringify(name)} (known: ${EVENT_NAMES.join(', ')})` });
    }
    const p = typeof topic === 'string' ? kafkaTopicProblem(topic) : undefined;
    if (p) out.push({ path, message: p });
  }
  const known = Object.keys(obj(classes));
  if (events.enabled !== false && typeof events.class === 'string' && !known.includes(events.class)) {
    out.push({
      path: 'events.class',
      message: `unknown class ${JSON.stringify(events.class)} (known: ${known.join(', ')})`,
    });
  }
  return out;
}
