// Secrets never reach logs, status pages or support bundles: every printed form of the config goes through here.
import { Kind, type TSchema } from '@sinclair/typebox';
import { type GatewayConfig, GatewayConfigSchema } from './schema.ts';

export const REDACTED = '[redacted]';

/** Secret keys by name, for free-form sections (adapters, flows) whose schema may not mark them `writeOnly`. */
const SECRET_KEY = /^(password|passphrase|passwordHash|credentialSecret|secret|token|apiKey)$/i;

function childSchema(schema: TSchema | undefined, key: string | number): TSchema | undefined {
  if (!schema) return undefined;
  const kind = (schema as { [Kind]?: string })[Kind];
  if (kind === 'Array') return schema.items as TSchema;
  if (kind === 'Object') return (schema.properties as Record<string, TSchema> | undefined)?.[key];
  if (kind === 'Record') return Object.values(schema.patternProperties as Record<string, TSchema>)[0];
  return undefined;
}

function redact(value: unknown, schema: TSchema | undefined, key: string | number): unknown {
  if (typeof value === 'string') {
    const secret = schema?.writeOnly === true || (typeof key === 'string' && SECRET_KEY.test(key));
    return secret && value !== '' ? REDACTED : value;
  }
  if (Array.isArray(value)) return value.map((v, i) => redact(v, childSchema(schema, i), i));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, childSchema(schema, k), k)]));
  }
  return value;
}

/** A copy of the config with every non-empty secret replaced by `[redacted]` (empty ones stay empty: "not set"). */
export function redactConfig(cfg: GatewayConfig): GatewayConfig {
  return redact(cfg, GatewayConfigSchema, '') as GatewayConfig;
}
