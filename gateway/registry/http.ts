// The registry's HTTP API: GET /api/devices (paged in client-id order, `?limit=`, `?after=`, `?online=`) and
// GET /api/devices/<client id> (URL-encoded). The HTTP part puts both behind its bearer token check.
import type { Request, Response } from 'express';
import { entryJson } from './entry.ts';
import type { DeviceFilter, DeviceRegistry } from './registry.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

type Route = (path: string, handler: (req: Request, res: Response) => void) => void;

function one(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The page asked for, or what is wrong with the query. */
function parseQuery(q: Request['query']): { limit: number; after?: string; filter: DeviceFilter } | string {
  const limitText = one(q.limit);
  const limit = limitText === undefined ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) return `limit must be a whole number from 1 to ${MAX_LIMIT}`;
  const online = one(q.online);
  if (online !== undefined && online !== 'true' && online !== 'false') return 'online must be true or false';
  const after = one(q.after);
  return {
    limit: Math.min(limit, MAX_LIMIT),
    ...(after !== undefined && after !== '' ? { after } : {}),
    filter: online === undefined ? {} : { online: online === 'true' },
  };
}

export function deviceRoutes(devices: DeviceRegistry, route: Route): void {
  route('/api/devices', (req, res) => {
    const q = parseQuery(req.query);
    if (typeof q === 'string') {
      res.status(400).json({ error: q });
      return;
    }
    const page = devices.list(q);
    res.json({ devices: page.devices.map(entryJson), next: page.next, total: page.total });
  });
  route('/api/devices/:clientid', (req, res) => {
    const d = devices.get(req.params.clientid ?? '');
    if (!d) {
      res.status(404).json({ error: 'unknown device' });
      return;
    }
    res.json(entryJson(d));
  });
}
