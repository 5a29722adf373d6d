// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
// Kafka record key templates, e.g. `${clientid}` or `site-${topic.1}`. Compiled once per route at start so the hot
// path (one call per message) is a few string concatenations: no parsing and no regex per call.
import { GatewayError } from '../errors.ts';

export interface KeyTemplateInput {
  clientId: string;
  username?: string | undefined;
  topic: string;
}

export type KeyTemplate = (m: KeyTemplateInput) => string;

export const KEY_PLACEHOLDERS = ['${clientid}', '${username}', '${topic}', '${topic.N}'] as const;

/** A literal string, or a placeholder: clientid, username, topic, or a topic level (0-based). */
type Part = string | { field: 'clientid' | 'username' | 'topic' } | { level: number };

export class KeyTemplateError extends GatewayError {
  override name = 'KeyTemplateError';
  constructor(message: string) {
    super('GW_ERR_CONFIG', message);
  }
}

const TOPIC_LEVEL = /^topic\.(0|[1-9][0-9]{0,2})$/;

function parse(tpl: string): Part[] {
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf('${', i);
    if (open === -1) {
      literal += tpl.slice(i);
      break;
    }
    literal += tpl.slice(i, open);
    const close = tpl.indexOf('}', open + 2);
    if (close === -1) throw new KeyTemplateError(`unterminated placeholder "${tpl.slice(open)}"`);
    const name = tpl.slice(open + 2, close);
    const level = TOPIC_LEVEL.exec(name);
    let part: Part;
    if (name === 'clientid' || name === 'username' || name === 'topic') part = { field: name };
    else if (level) part = { level: Number(level[1]) };
    else throw new KeyTemplateError(`unknown placeholder "\${${name}}" (known: ${KEY_PLACEHOLDERS.join(', ')})`);
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(part);
    i = close + 1;
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

function fieldOf(part: { field: 'clientid' | 'username' | 'topic' }): (m: KeyTemplateInput) => string {
  if (part.field === 'clientid') return (m) => m.clientId;
  if (part.field === 'username') return (m) => m.username ?? '';
  return (m) => m.topic;
}

/**
 * Compiles a key template. Throws `KeyTemplateError` naming the first bad placeholder.
 * A missing username or topic level renders as an empty string.
 */
export function compileKeyTemplate(tpl: string): KeyTemplate {
  const parts = parse(tpl);
  if (parts.length === 0) return () => '';
  // The common cases get a function with no loop at all.
  if (parts.length === 1) {
    const only = parts[0]!;
    if (typeof only === 'string') return () => only;
    if ('field' in only) return fieldOf(only);
  }
  const needsLevels = parts.some((p) => typeof p === 'object' && 'level' in p);
  return (m) => {
    const levels = needsLevels ? m.topic.split('/') : undefined;
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else if ('level' in p) out += levels![p.level] ?? '';
      else if (p.field === 'clientid') out += m.clientId;
      else if (p.field === 'username') out += m.username ?? '';
      else out += m.topic;
    }
    return out;
  };
}

/** Returns why a template is invalid, or undefined when it compiles. */
export function keyTemplateProblem(tpl: string): string | undefined {
  try {
    parse(tpl);
    return undefined;
  } catch (err) {
    if (err instanceof KeyTemplateError) return err.message;
    throw err;
  }
}
