// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL topics and the client id pattern spell placeholders as ${name}.
// Config checks of the security section's identity half that the schema cannot express: password hashes (plaintext
// refused), key files, ACL topics, placeholders, and listeners reachable without authentication.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { topicFilterProblem } from '../topic.ts';
import { exposureProblems } from './exposure.ts';
import { hashProblem } from './passwords.ts';
import type { AuthConfig } from './schema.ts';

export interface Problem {
  path: string;
  message: string;
}

interface Input {
  mqtt: { host: string; tls: { ca: string; cert: string } };
  http: { host: string };
  security: AuthConfig;
}

const ACL_VARS = /\$\{(?!(clientid|username|cn)\})[^}]*\}/;
const PATTERN_VARS = /\$\{(?!(identity|username|cn)\})[^}]*\}/;

function readable(path: string, what: (text: string) => void): string | undefined {
  try {
    what(readFileSync(path, 'utf8'));
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `cannot read ${path} (${code})` : `${path}: ${(err as Error).message}`;
  }
}

/** Problems of a config whose shape the schema already accepted. */
export function authProblems(cfg: Input): Problem[] {
  const out: Problem[] = [];
  const add = (path: string, message: string) => out.push({ path, message });
  const a = cfg.security.authentication;
  const seen = new Set<string>();
  a.users.forEach((u, i) => {
    if (seen.has(u.username))
      add(`security.authentication.users[${i}].username`, `duplicate user ${JSON.stringify(u.username)}`);
    seen.add(u.username);
    const p = hashProblem(u.passwordHash);
    if (p) add(`security.authentication.users[${i}].passwordHash`, p);
  });
  const keys = new Set<string>();
  a.signature.keys.forEach((k, i) => {
    if (keys.has(k.accessKey)) add(`security.authentication.signature.keys[${i}].accessKey`, 'duplicate access key');
    keys.add(k.accessKey);
  });
  const jwt = a.jwt;
  if (jwt.secret !== '' && Buffer.byteLength(jwt.secret) < 32) {
    add('security.authentication.jwt.secret', 'must be at least 32 bytes (RFC 7518 section 3.2)');
  }
  if (jwt.publicKey !== '') {
    const p = readable(jwt.publicKey, (t) => createPublicKey(t));
    if (p) add('security.authentication.jwt.publicKey', p);
  }
  if (jwt.jwks !== '') {
    const p = readable(jwt.jwks, (t) => {
      const set = JSON.parse(t) as { keys?: unknown };
      if (!Array.isArray(set.keys)) throw new Error('is not a JWKS (no "keys" list)');
    });
    if (p) add('security.authentication.jwt.jwks', p);
  }
  const url = a.webhook.url;
  if (url !== '' && !/^https?:\/\/[^/]/.test(url))
    add('security.authentication.webhook.url', 'must be an http:// or https:// URL');
  const z = cfg.security.authorization;
  z.rules.forEach((r, i) => {
    r.topics.forEach((t, j) => {
      const at = `security.authorization.rules[${i}].topics[${j}]`;
      const bad = ACL_VARS.exec(t);
      if (bad) add(at, `unknown placeholder ${bad[0]} (known: \${clientid}, \${username}, \${cn})`);
      else if (!t.startsWith('eq ')) {
        const p = topicFilterProblem(t);
        if (p) add(at, p);
      }
    });
  });
  z.commandTopics.forEach((t, i) => {
    const p = topicFilterProblem(t);
    if (p) add(`security.authorization.commandTopics[${i}]`, p);
  });
  const bad = PATTERN_VARS.exec(cfg.security.clientId.pattern);
  if (bad)
    add('security.clientId.pattern', `unknown placeholder ${bad[0]} (known: \${identity}, \${username}, \${cn})`);
  out.push(...exposureProblems(cfg));
  return out;
}
