// One device as the registry knows it, and how each client event changes it. Pure functions: the registry
// (registry.ts) owns the map, the persistence and the counts of online devices.
import type { ClientConnected, ClientDisconnected, DisconnectReason } from '../events/types.ts';

export interface DeviceEntry {
  clientId: string;
  /** When the device first connected (ms since the epoch). */
  firstSeen: number;
  /** Its last connect, disconnect, publish or acknowledged command (ms). */
  lastSeen: number;
  online: boolean;
  /** `ip:port` of its last connection. */
  address: string | null;
  username: string | null;
  connects: number;
  disconnects: number;
  lastDisconnectReason: DisconnectReason | null;
  /** Publishes the gateway accepted from it. */
  messagesIn: number;
  /** Commands delivered to it that it acknowledged. */
  commandsAcked: number;
  /** Start of its current (or last) connection (ms); a later disconnect of an older connection keeps it online. */
  connectedAt: number;
}

/** The disconnect a gateway restart implies for a device that was online when the previous run ended. */
export const RESTART_REASON: DisconnectReason = 'gateway_restart';

export function newEntry(clientId: string, at: number): DeviceEntry {
  return {
    clientId,
    firstSeen: at,
    lastSeen: at,
    online: false,
    address: null,
    username: null,
    connects: 0,
    disconnects: 0,
    lastDisconnectReason: null,
    messagesIn: 0,
    commandsAcked: 0,
    connectedAt: 0,
  };
}

function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function applyConnected(d: DeviceEntry, e: ClientConnected): void {
  d.online = true;
  d.connects++;
  d.connectedAt = e.ts;
  d.address = formatAddress(e.ip, e.port);
  d.username = e.username;
  d.lastSeen = Math.max(d.lastSeen, e.ts);
}

/**
 * A disconnect. Returns false when the registry already counted it: the disconnect a gateway restart implies was
 * applied when the entries were loaded (`restartPending`), so the broker's own gateway_restart event adds nothing.
 */
export function applyDisconnected(d: DeviceEntry, e: ClientDisconnected, restartPending: boolean): boolean {
  if (e.reason === RESTART_REASON && restartPending) return false;
  d.disconnects++;
  d.lastDisconnectReason = e.reason;
  d.lastSeen = Math.max(d.lastSeen, e.ts);
  // A takeover's new connection may be announced before the old one's disconnect: that one does not end it.
  const older = e.connected_at !== 0 && e.connected_at < d.connectedAt;
  if (!older) d.online = false;
  return true;
}

/** What a stored entry says, checked field by field (a store written by an older gateway may lack some). */
export function parseEntry(clientId: string, raw: string): DeviceEntry | undefined {
  let v: Partial<DeviceEntry>;
  try {
    v = JSON.parse(raw) as Partial<DeviceEntry>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || typeof v.firstSeen !== 'number') return undefined;
  const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
  return {
    clientId,
    firstSeen: v.firstSeen,
    lastSeen: num(v.lastSeen) || v.firstSeen,
    online: v.online === true,
    address: str(v.address),
    username: str(v.username),
    connects: num(v.connects),
    disconnects: num(v.disconnects),
    lastDisconnectReason: str(v.lastDisconnectReason) as DisconnectReason | null,
    messagesIn: num(v.messagesIn),
    commandsAcked: num(v.commandsAcked),
    connectedAt: num(v.connectedAt),
  };
}

/** The entry as the API shows it and the store keeps it (the client id is the key). */
export function entryJson(d: DeviceEntry): Omit<DeviceEntry, 'connectedAt'> & { connectedAt: number | null } {
  return { ...d, connectedAt: d.connectedAt || null };
}
