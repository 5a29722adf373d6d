// The registry's HTTP API: GET /api/devices (paged in client-id order, `?limit=`, `?after=`, `?online=`),
// GET /api/devices/<client id> (URL-encoded) and DELETE /api/devices/<client id>/connection (closes the device's
// connection, reason kicked). The HTTP part puts them behind its bearer token check, and the DELETE on loopback when
// no token is set.
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { entryJson } from './entry.ts';
import type { DeviceFilter, DeviceRegistry } from './registry.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

type Route = (path: string, handler: (req: Request, res: Response) => void, method?: 'get' | 'delete') => void;

/** Closes a device's connection (the broker); false when that device is not connected. */
export interface Kicker {
  kick(clientId: string): boolean;
}

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

export function deviceRoutes(devices: DeviceRegistry, route: Route, broker: Kicker, log: Pick<Logger, 'info'>): void {
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
  route(
    '/api/devices/:clientid/connection',
    (req, res) => {
      const clientId = req.params.clientid ?? '';
      if (!broker.kick(clientId)) {
        res.status(404).json({ error: 'device not connected' });
        return;
      }
      log.info({ client: clientId, by: req.socket.remoteAddress }, 'device connection closed by an API call (kicked)');
      res.status(204).end();
    },
    'delete',
  );
}
