// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL topics spell their placeholders as ${name}.
// Authorization: ACL rules (EMQX style: first match wins, ${clientid}/${username}/${cn} placeholders) compiled once
// per client at CONNECT, so a publish costs a cache lookup or a walk over a few pre-split filters.
import { covers } from '../topic.ts';
import type { AclRule, AuthConfig } from './schema.ts';

/** Who a connected client is, as the authentication chain decided. */
export interface Identity {
  method: 'anonymous' | 'local' | 'password' | 'signature' | 'jwt' | 'certificate' | 'webhook';
  /** The name the client id is bound to (username, certificate name, token client id); '' when anonymous. */
  name: string;
  username: string;
  /** Certificate name ('' without a client certificate). */
  cn: string;
  admin: boolean;
  /** Topic filters a token limits the client to. */
  publish?: string[];
  subscribe?: string[];
  /** When the credential ends (ms since the epoch): a token's exp plus the clock tolerance, a webhook's expire_at. */
  expiresAt?: number;
}

type Action = 'publish' | 'subscribe';

interface Compiled {
  allow: boolean;
  publish: boolean;
  subscribe: boolean;
  retainOnly: boolean;
  /** Filters split into levels, or literal texts (`eq`). */
  filters: readonly string[][];
  literals: readonly string[];
}

export const PER_DEVICE_TEMPLATE: readonly AclRule[] = [
  { permission: 'deny', action: 'publish', topics: ['devices/${clientid}/command', 'devices/${clientid}/command/#'] },
  { permission: 'allow', action: 'publish', topics: ['devices/${clientid}/#'] },
  { permission: 'allow', action: 'subscribe', topics: ['devices/${clientid}/command'] },
];

/** A value put into a topic must stay one plain level: a client id `+` or `a/#` must not widen a rule. */
const unsafe = (v: string) => v === '' || /[+#/]/.test(v) || v.includes('\u0000');

/** The topic with placeholders replaced, or undefined when a value is missing or would add levels or wildcards. */
export function expand(topic: string, vars: { clientid: string; username: string; cn: string }): string | undefined {
  if (!topic.includes('${')) return topic;
  let bad = false;
  const out = topic.replace(/\$\{(clientid|username|cn)\}/g, (_m, k: 'clientid' | 'username' | 'cn') => {
    const v = vars[k];
    if (unsafe(v)) bad = true;
    return v;
  });
  return bad || out.includes('${') ? undefined : out;
}

export interface ClientAcl {
  canPublish(topic: string, retain: boolean): boolean;
  canSubscribe(filter: string): boolean;
}

/** No rules at all: everything but $SYS, the broker's own (admin identities only). */
const ALLOW_ALL: ClientAcl = { canPublish: () => true, canSubscribe: (f) => !f.startsWith('$SYS') };

function compile(rules: readonly AclRule[], who: Identity, clientId: string): Compiled[] {
  const vars = { clientid: clientId, username: who.username, cn: who.cn };
  const out: Compiled[] = [];
  for (const r of rules) {
    if (r.username !== undefined && r.username !== who.username) continue;
    if (r.clientid !== undefined && r.clientid !== clientId) continue;
    if (r.admin !== undefined && r.admin !== who.admin) continue;
    const filters: string[][] = [];
    const literals: string[] = [];
    for (const t of r.topics) {
      const literal = t.startsWith('eq ');
      const topic = expand(literal ? t.slice(3) : t, vars);
      if (topic === undefined) continue;
      if (literal) literals.push(topic);
      else filters.push(topic.split('/'));
    }
    if (filters.length + literals.length === 0) continue;
    out.push({
      allow: r.permission === 'allow',
      publish: r.action === 'publish' || r.action === 'retain' || r.action === 'all',
      subscribe: r.action === 'subscribe' || r.action === 'all',
      retainOnly: r.action === 'retain',
      filters,
      literals,
    });
  }
  return out;
}

/** Whether one of the rule's topics (a literal text, or a filter that covers the subject) names the subject. */
function namedBy(rule: Compiled, subject: string): boolean {
  for (const l of rule.literals) if (l === subject) return true;
  for (const f of rule.filters) if (covers(f, subject)) return true;
  return false;
}

function decide(rules: readonly Compiled[], action: Action, subject: string, retain: boolean): boolean | undefined {
  for (const r of rules) {
    if (action === 'publish' ? !r.publish || (r.retainOnly && !retain) : !r.subscribe) continue;
    if (namedBy(r, subject)) return r.allow;
  }
  return undefined;
}

const CACHE_MAX = 64;

/** The ACL of one client, compiled at CONNECT. */
export function compileAcl(config: AuthConfig['authorization'], who: Identity, clientId: string): ClientAcl {
  const commands = config.commandTopics.map((f) => f.split('/'));
  const isCommand = (topic: string) => commands.some((f) => covers(f, topic));
  // [MQTT-4.7.2-1] and $SYS/# for admin identities only.
  if (who.admin) return { canPublish: (t, retain) => !(retain && isCommand(t)), canSubscribe: () => true };
  const template = config.template === 'per-device' ? PER_DEVICE_TEMPLATE : [];
  const rules = compile([...config.rules, ...template], who, clientId);
  const token = who.publish || who.subscribe ? { publish: who.publish, subscribe: who.subscribe } : undefined;
  const tokenRule = (list: string[] | undefined): Compiled[] =>
    list
      ? compile([{ permission: 'allow', action: 'all', topics: list.length > 0 ? list : ['eq '] }], who, clientId)
      : [];
  const tokenPub = tokenRule(token?.publish);
  const tokenSub = tokenRule(token?.subscribe);
  const ruled = config.rules.length > 0 || template.length > 0;
  if (!ruled && !token && commands.length === 0) return ALLOW_ALL;
  const fallback = !ruled;

  const check = (action: Action, subject: string, retain: boolean): boolean => {
    if (subject.charCodeAt(0) === 36 && subject.startsWith('$SYS')) return false;
    if (action === 'publish' && retain && isCommand(subject)) return false;
    if (token) {
      const list = action === 'publish' ? token.publish : token.subscribe;
      if (list && decide(action === 'publish' ? tokenPub : tokenSub, 'publish', subject, retain) !== true) return false;
    }
    return decide(rules, action, subject, retain) ?? fallback;
  };
  // Devices publish to a handful of topics over and over: remember the answers.
  const pub = new Map<string, boolean>();
  const pubRetained = new Map<string, boolean>();
  return {
    canPublish(topic, retain) {
      const cache = retain ? pubRetained : pub;
      let ok = cache.get(topic);
      if (ok === undefined) {
        ok = check('publish', topic, retain);
        if (cache.size >= CACHE_MAX) cache.clear();
        cache.set(topic, ok);
      }
      return ok;
    },
    canSubscribe: (filter) => check('subscribe', filter, false),
  };
}
