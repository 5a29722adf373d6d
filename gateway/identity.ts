// The gateway's identity: the id in every record's headers and envelope. It must differ between boxes and stay the
// same across restarts, so it never comes from the hostname (on balena that is the container id, and two boxes
// often share one). Precedence: `gatewayId` from the config, the balena device UUID, the id kept in the store's meta,
// and on a first start a new random id, kept there.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { MetaDb } from './store/store.ts';

const META_GATEWAY_ID = 'gatewayId';

export interface IdentityInput {
  /** `gatewayId` from the config ('' = not set). */
  configured: string;
  /** The process environment, for BALENA_DEVICE_UUID. */
  env: Readonly<Record<string, string | undefined>>;
  meta: MetaDb;
  /** True when the store was created by this start (or by a version that kept no epoch). */
  freshStore: boolean;
  /** The host name; an id equal to it was derived by an older version and is replaced. */
  hostname: string;
  log: Logger;
}

export type IdentitySource = 'config' | 'balena' | 'store' | 'generated';

/** Characters that survive Kafka headers, metric labels and log search unquoted. */
const clean = (s: string): string => s.trim().replace(/[^A-Za-z0-9._-]/g, '-');

export async function resolveGatewayId(i: IdentityInput): Promise<{ id: string; source: IdentitySource }> {
  if (i.configured) return { id: i.configured, source: 'config' };
  const balena = clean(i.env.BALENA_DEVICE_UUID ?? '');
  if (balena) return { id: balena, source: 'balena' };
  const stored = await i.meta.get(META_GATEWAY_ID);
  // Versions before the store had an epoch derived the id from the hostname; that one is not kept.
  const hostnameId = clean(i.hostname);
  if (stored && !(i.freshStore && stored === hostnameId)) return { id: stored, source: 'store' };
  const id = `gw-${randomBytes(8).toString('hex')}`;
  // Durable with the store's first synced commit, as the epoch (gateway/store/store.ts).
  await i.meta.put(META_GATEWAY_ID, id);
  if (stored) i.log.info({ previous: stored, gatewayId: id }, 'replaced the hostname-derived gateway id');
  return { id, source: 'generated' };
}
