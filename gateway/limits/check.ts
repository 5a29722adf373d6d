// Config rules of the limits, HTTP and editor settings that a schema cannot express. Tolerates values the schema
// already rejected.
import { SYSTEM_NODE_FILES } from './editor.ts';
import { isLoopback } from './loopback.ts';

interface Problem {
  path: string;
  message: string;
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export function limitsProblems(cfg: unknown): Problem[] {
  const out: Problem[] = [];
  const c = obj(cfg);
  const security = obj(c.security);
  const limits = obj(security.limits);
  const before = limits.maxPacketBytesBeforeConnect;
  const after = limits.maxPacketBytes;
  if (typeof before === 'number' && typeof after === 'number' && before > after) {
    out.push({
      path: 'security.limits.maxPacketBytesBeforeConnect',
      message: `(${before}) must not exceed security.limits.maxPacketBytes (${after})`,
    });
  }
  const tls = obj(obj(security.http).tls);
  if (typeof tls.cert === 'string' && typeof tls.key === 'string' && (tls.cert === '') !== (tls.key === '')) {
    out.push({ path: 'security.http.tls', message: 'cert and key must be set together' });
  }
  const allow = obj(security.editor).allowNodes;
  if (Array.isArray(allow)) {
    allow.forEach((f, i) => {
      if (typeof f === 'string' && !(SYSTEM_NODE_FILES as readonly string[]).includes(f)) {
        out.push({
          path: `security.editor.allowNodes[${i}]`,
          message: `${JSON.stringify(f)} is not an excluded node file (known: ${SYSTEM_NODE_FILES.join(', ')})`,
        });
      }
    });
  }
  // The editor deploys code that runs on this box: never to the network without a login.
  const flows = obj(c.flows);
  const host = obj(c.http).host;
  if (flows.enabled !== false && flows.adminAuth === undefined && typeof host === 'string' && host !== 'auto') {
    if (!isLoopback(host)) {
      out.push({
        path: 'flows.adminAuth',
        message: `is required when http.host (${JSON.stringify(host)}) is reachable from the network: the flow editor runs code on this box. Set flows.adminAuth (a bcrypt hash), bind http.host to 127.0.0.1, or set flows.enabled: false`,
      });
    }
  }
  return out;
}
