// The GATEWAY_* environment mapping, derived by walking the schema so it can never drift from it: the path
// `store.groupCommit.maxRecords` is `GATEWAY_STORE_GROUP_COMMIT_MAX_RECORDS`. Balena device variables land here.
import { Kind, type TSchema } from '@sinclair/typebox';
import { GatewayConfigSchema } from './schema.ts';

export const ENV_PREFIX = 'GATEWAY_';
/** Env vars with the prefix that are not settings. */
export const ENV_RESERVED = new Set(['GATEWAY_CONFIG']);

/** How an env var's text becomes a value. */
export type SettingKind = 'string' | 'integer' | 'number' | 'boolean' | 'enum' | 'list' | 'json';

export interface Setting {
  /** Dotted key, e.g. `kafka.batch.maxRecords`. */
  path: string;
  segments: string[];
  env: string;
  kind: SettingKind;
  schema: TSchema;
}

export const toSnake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

const kindOf = (s: TSchema): string => (s as { [Kind]?: string })[Kind] ?? '';

export function literalsOf(s: TSchema): (string | number)[] | undefined {
  if (kindOf(s) !== 'Union') return undefined;
  const members = (s.anyOf ?? []) as TSchema[];
  if (!members.every((m) => kindOf(m) === 'Literal')) return undefined;
  return members.map((m) => m.const as string | number);
}

function leafKind(s: TSchema): SettingKind {
  switch (kindOf(s)) {
    case 'String':
      return 'string';
    case 'Integer':
      return 'integer';
    case 'Number':
      return 'number';
    case 'Boolean':
      return 'boolean';
    case 'Array':
      return ['String', 'Integer', 'Number'].includes(kindOf(s.items as TSchema)) ? 'list' : 'json';
    default:
      return literalsOf(s) ? 'enum' : 'json';
  }
}

/** True for a section whose keys are all known (walked key by key) rather than free-form (set as JSON). */
export function isSection(s: TSchema): boolean {
  return kindOf(s) === 'Object' && s.additionalProperties === false && Object.keys(s.properties ?? {}).length > 0;
}

function walk(schema: TSchema, segments: string[], out: Setting[]): void {
  if (segments.length > 0 && !isSection(schema)) {
    out.push({
      path: segments.join('.'),
      segments,
      env: ENV_PREFIX + segments.map(toSnake).join('_'),
      kind: leafKind(schema),
      schema,
    });
    return;
  }
  for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
    walk(child, [...segments, key], out);
  }
}

let cached: Setting[] | undefined;

/** Every setting reachable from the environment, in schema order. */
export function settings(): Setting[] {
  if (!cached) {
    cached = [];
    walk(GatewayConfigSchema, [], cached);
  }
  return cached;
}

/** The env var of every setting, for docs and `--help`. */
export function envVarNames(): { env: string; path: string; description?: string }[] {
  return settings().map((s) => ({
    env: s.env,
    path: s.path,
    ...(typeof s.schema.description === 'string' ? { description: s.schema.description } : {}),
  }));
}

type Parsed = { ok: true; value: unknown } | { ok: false; why: string };

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Converts an env var's text to the setting's type; schema validation then checks ranges and formats. */
export function parseEnvValue(setting: Setting, raw: string): Parsed {
  const text = raw.trim();
  const shown = JSON.stringify(raw);
  switch (setting.kind) {
    case 'string':
      return { ok: true, value: raw };
    case 'integer':
      return /^[-+]?\d+$/.test(text)
        ? { ok: true, value: Number(text) }
        : { ok: false, why: `${shown} is not an integer` };
    case 'number': {
      const n = Number(text);
      return text !== '' && Number.isFinite(n)
        ? { ok: true, value: n }
        : { ok: false, why: `${shown} is not a number` };
    }
    case 'boolean': {
      const t = text.toLowerCase();
      if (TRUE.has(t)) return { ok: true, value: true };
      if (FALSE.has(t)) return { ok: true, value: false };
      return { ok: false, why: `${shown} is not a boolean (use true or false)` };
    }
    case 'enum': {
      const allowed = literalsOf(setting.schema) ?? [];
      const hit = allowed.find((v) => String(v) === text);
      return hit === undefined
        ? { ok: false, why: `${shown} is not one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` }
        : { ok: true, value: hit };
    }
    case 'list': {
      if (text.startsWith('[')) return parseJson(raw);
      const items = text === '' ? [] : text.split(',').map((s) => s.trim());
      const numeric = kindOf(setting.schema.items as TSchema) !== 'String';
      return { ok: true, value: numeric ? items.map(Number) : items };
    }
    case 'json':
      return parseJson(raw);
  }
}

function parseJson(raw: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch (err) {
    // V8 quotes the start of the input in its message; drop it, the value may hold a password.
    const reason = (err as Error).message.replace(/,? ".*" is not valid JSON$/s, '');
    return { ok: false, why: `value is not valid JSON: ${reason}` };
  }
}
