// Validation of a defaulted config: the schema's errors, reworded to name the key, plus the checks a schema cannot
// express (cross-field references, MQTT filter and Kafka topic syntax, key templates). Every problem is collected so an
// operator fixes them all in one go.
import type { TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { authProblems } from '../../gateway/auth/check.ts';
import { keyTemplateProblem } from '../../gateway/config/template.ts';
import { eventsProblems } from '../../gateway/events/check.ts';
import { kafkaTopicProblem } from '../../gateway/kafka-topic.ts';
import { limitsProblems } from '../../gateway/limits/check.ts';
import { topicFilterProblem } from '../../gateway/topic.ts';
import { literalsOf } from './env.ts';
import { GatewayConfigSchema } from './schema.ts';

export interface Problem {
  /** e.g. `routes[1].class`; '' for the whole file. */
  path: string;
  message: string;
}

/** `/routes/1/class` → `routes[1].class` */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function show(value: unknown, schema: TSchema): string {
  if (schema.writeOnly) return '';
  const text = JSON.stringify(value);
  return text === undefined || text.length > 40 ? '' : `, got ${text}`;
}

/** The candidate nearest to a misspelt word, if one is near enough. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** Keys that no longer exist, with where their settings went. */
const REMOVED: Record<string, string> = {
  '/mqtt/auth':
    'was replaced by the security section: plaintext passwords are refused; list users with password hashes from `./gw auth hash` under security.authentication.users, and set security.anonymous: true for access without credentials (docs/security.md)',
};

function describe(e: ValueError): string {
  const s = e.schema;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const removed = REMOVED[e.path];
      if (removed) return removed;
      const known = Object.keys(s.properties ?? {});
      const key = e.path.slice(e.path.lastIndexOf('/') + 1);
      const hint = closest(key, known);
      return `unknown key${hint ? ` (did you mean "${hint}"?)` : ''} (known: ${known.join(', ')})`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.Object:
      return `must be a mapping of keys to values${show(e.value, s)}`;
    case ValueErrorType.Array:
      return `must be a list${show(e.value, s)}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`;
    case ValueErrorType.String:
      return `must be a string${show(e.value, s)}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters`;
    case ValueErrorType.Boolean:
      return `must be true or false${show(e.value, s)}`;
    case ValueErrorType.Integer:
      return `must be an integer${show(e.value, s)}`;
    case ValueErrorType.Number:
      return `must be a number${show(e.value, s)}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be ${e.type === ValueErrorType.IntegerMaximum ? 'integer' : 'number'} <= ${s.maximum}${show(e.value, s)}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be ${e.type === ValueErrorType.IntegerMinimum ? 'integer' : 'number'} >= ${s.minimum}${show(e.value, s)}`;
    case ValueErrorType.Union: {
      const allowed = literalsOf(s);
      if (allowed) return `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}${show(e.value, s)}`;
      return e.message;
    }
    default:
      return e.message.charAt(0).toLowerCase() + e.message.slice(1);
  }
}

/** The schema's problems, one per key (the first one found for it). */
export function schemaProblems(value: unknown): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of Value.Errors(GatewayConfigSchema, value)) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    out.push({ path: pointerToPath(e.path), message: describe(e) });
  }
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, unknown> => (isObj(v) ? v : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const BROKER = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** Checks across keys, and of formats the schema leaves to us. Tolerates values the schema already rejected. */
export function semanticProblems(cfg: unknown): Problem[] {
  const out: Problem[] = [];
  const add = (path: string, message: string) => out.push({ path, message });
  const c = obj(cfg);
  const mqtt = obj(c.mqtt);
  const tls = obj(mqtt.tls);
  if (typeof tls.cert === 'string' && typeof tls.key === 'string' && (tls.cert === '') !== (tls.key === '')) {
    add('mqtt.tls', 'cert and key must be set together');
  }
  const wsPath = str(obj(mqtt.ws).path);
  if (wsPath !== undefined && !wsPath.startsWith('/'))
    add('mqtt.ws.path', `must start with "/", got ${JSON.stringify(wsPath)}`);

  // The security rules read a well-formed section; a malformed one is already reported by the schema.
  const p = GatewayConfigSchema.properties;
  if (Value.Check(p.security, c.security) && Value.Check(p.mqtt, c.mqtt) && Value.Check(p.http, c.http)) {
    out.push(...authProblems(c as unknown as Parameters<typeof authProblems>[0]));
  }
  out.push(...limitsProblems(c));

  const ports = new Map<number, string>();
  const tlsOn = typeof tls.cert === 'string' && tls.cert !== '';
  for (const [path, port] of [
    ['mqtt.port', mqtt.port],
    ['mqtt.tls.port', tlsOn ? tls.port : undefined],
    ['http.port', obj(c.http).port],
  ] as const) {
    if (typeof port !== 'number' || port === 0) continue;
    const other = ports.get(port);
    if (other) add(path, `port ${port} is already used by ${other}`);
    else ports.set(port, path);
  }

  const kafka = obj(c.kafka);
  list(kafka.brokers).forEach((b, i) => {
    if (typeof b !== 'string') return;
    const m = BROKER.exec(b);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) add(`kafka.brokers[${i}]`, `${JSON.stringify(b)} must be host:port`);
  });
  const retry = obj(kafka.retry);
  if (typeof retry.initialMs === 'number' && typeof retry.maxMs === 'number' && retry.initialMs > retry.maxMs) {
    add('kafka.retry', `initialMs (${retry.initialMs}) must not exceed maxMs (${retry.maxMs})`);
  }
  const sasl = obj(kafka.sasl);
  if (typeof sasl.mechanism === 'string' && sasl.mechanism !== 'none' && sasl.username === '') {
    add('kafka.sasl.username', `must be set when mechanism is ${JSON.stringify(sasl.mechanism)}`);
  }
  const ktls = obj(kafka.tls);
  if (typeof ktls.cert === 'string' && typeof ktls.key === 'string' && (ktls.cert === '') !== (ktls.key === '')) {
    add('kafka.tls', 'cert and key must be set together (mutual TLS)');
  }

  const classes = isObj(c.classes) ? Object.keys(c.classes) : [];
  const names = new Set<string>();
  list(c.routes).forEach((r, i) => {
    const route = obj(r);
    const at = `routes[${i}]`;
    const name = str(route.name);
    if (name !== undefined) {
      if (names.has(name)) add(`${at}.name`, `duplicate route name ${JSON.stringify(name)}`);
      names.add(name);
    }
    const filter = str(route.filter);
    const filterProblem = filter === undefined ? undefined : topicFilterProblem(filter);
    if (filterProblem) add(`${at}.filter`, filterProblem);
    const topic = str(route.topic);
    const topicProblem = topic === undefined ? undefined : kafkaTopicProblem(topic);
    if (topicProblem) add(`${at}.topic`, topicProblem);
    const key = str(route.key);
    const keyProblem = key === undefined ? undefined : keyTemplateProblem(key);
    if (keyProblem) add(`${at}.key`, keyProblem);
    const cls = str(route.class);
    if (cls !== undefined && isObj(c.classes) && !Object.hasOwn(c.classes, cls)) {
      add(`${at}.class`, `unknown class ${JSON.stringify(cls)} (known: ${classes.join(', ')})`);
    }
  });

  const downlink = obj(c.downlink);
  if (downlink.enabled === true && Array.isArray(downlink.topics) && downlink.topics.length === 0) {
    add('downlink.topics', 'must name at least one topic when downlink is enabled');
  }
  list(downlink.topics).forEach((t, i) => {
    const p = typeof t === 'string' ? kafkaTopicProblem(t) : undefined;
    if (p) add(`downlink.topics[${i}]`, p);
  });
  out.push(...eventsProblems(c.events, c.classes));
  return out;
}
