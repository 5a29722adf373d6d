// The device registry: per MQTT client id, when it was first and last seen, whether it is online, its last address
// and username, its connects and disconnects, the publishes accepted from it and the commands it acknowledged.
// Client events (gateway/events/types.ts) and Ingest's `accepted` event update it in memory; reads come from memory.
// Changed entries are written to the store's meta (`device!<client id>`, JSON) in one batch every few seconds and
// on stop, so a publish costs no write of its own; start() loads them back. The map is bounded: past `maxDevices`
// the least recently seen device is forgotten (and counted).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EventRecorder, GatewayEvent } from '../events/types.ts';
import type { Part, PartHealth } from '../part.ts';
import type { MetaDb } from '../store/storage-class.ts';
import { applyConnected, applyDisconnected, type DeviceEntry, newEntry, parseEntry, RESTART_REASON } from './entry.ts';
import { type RegistryMetrics, registryMetrics } from './metrics.ts';

const KEY_PREFIX = 'device!';
/** The first key after every `device!…` key ('"' follows '!'). */
const KEY_END = 'device"';
const DEFAULT_MAX_DEVICES = 100_000;
const DEFAULT_FLUSH_MS = 5000;

interface DeviceRegistryOptions {
  /** The store's meta; read when the registry starts (the store is open by then). */
  meta: () => MetaDb;
  registry: Registry;
  log: Logger;
  maxDevices?: number;
  flushMs?: number;
}

export interface DeviceFilter {
  online?: boolean;
}

interface DevicePage {
  devices: DeviceEntry[];
  next: string | null;
  total: number;
}

export class DeviceRegistry implements Part, EventRecorder {
  readonly name = 'devices';
  private readonly opts: DeviceRegistryOptions;
  private readonly maxDevices: number;
  /** In least-recently-seen order: a device seen again moves to the end, eviction takes the first. */
  private readonly entries = new Map<string, DeviceEntry>();
  /** Client ids in order, rebuilt when a device is added or forgotten (not when one changes). */
  private sorted: string[] | undefined;
  private readonly dirty = new Set<string>();
  private readonly forgotten = new Set<string>();
  /** Found online when loaded: the restart already counted their disconnect. */
  private readonly restartPending = new Set<string>();
  private online = 0;
  private evicted = 0;
  private flushes = 0;
  /** Entries in the batch being written. */
  private writing = 0;
  private lastFlushError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly metrics: RegistryMetrics;
  private running = false;

  constructor(opts: DeviceRegistryOptions) {
    this.opts = opts;
    this.maxDevices = opts.maxDevices ?? DEFAULT_MAX_DEVICES;
    this.metrics = registryMetrics(opts.registry, {
      known: () => this.entries.size,
      online: () => this.online,
    });
  }

  // --- updates --------------------------------------------------------------------------------------------------

  /** A client or command event; the broker's `event` and the events of delivered commands come here. */
  onEvent(e: GatewayEvent): void {
    switch (e.event) {
      case 'client.connected': {
        const d = this.touch(e.clientid, e.ts, true) as DeviceEntry;
        this.restartPending.delete(e.clientid);
        if (!d.online) this.online++;
        applyConnected(d, e);
        this.dirty.add(d.clientId);
        return;
      }
      case 'client.disconnected': {
        const d = this.touch(e.clientid, e.ts, true) as DeviceEntry;
        const wasOnline = d.online;
        if (applyDisconnected(d, e, this.restartPending.delete(e.clientid)) && wasOnline && !d.online) this.online--;
        this.dirty.add(d.clientId);
        return;
      }
      case 'message.acked': {
        this.metrics.ackSeconds.observe(e.latency_ms / 1000);
        const d = this.touch(e.clientid, e.ts, false);
        if (!d) return;
        d.commandsAcked++;
        this.dirty.add(d.clientId);
        return;
      }
      default:
      // A refused connect creates no entry (anyone could fill the map with made-up ids); subscriptions and the
      // other command events change nothing kept here.
    }
  }

  /** EventRecorder: the same as onEvent, for whatever hands events to recorders. */
  record(e: GatewayEvent): void {
    this.onEvent(e);
  }

  /** A publish the gateway accepted from `clientId` (Ingest's `accepted`). Only devices that connected count. */
  accepted(clientId: string): void {
    const d = this.touch(clientId, Date.now(), false);
    if (!d) return;
    d.messagesIn++;
    this.dirty.add(clientId);
  }

  /** The entry of `clientId`, moved to the most recently seen end; created (evicting if full) when `create`. */
  private touch(clientId: string, at: number, create: boolean): DeviceEntry | undefined {
    let d = this.entries.get(clientId);
    if (d) {
      this.entries.delete(clientId);
      d.lastSeen = Math.max(d.lastSeen, at);
    } else {
      if (!create) return undefined;
      d = newEntry(clientId, at);
      this.forgotten.delete(clientId);
      this.sorted = undefined;
      this.evictFor(1);
    }
    this.entries.set(clientId, d);
    return d;
  }

  /** Makes room for `n` more entries: forgets the least recently seen. */
  private evictFor(n: number): void {
    while (this.entries.size + n > this.maxDevices && this.entries.size > 0) {
      const [id, d] = this.entries.entries().next().value as [string, DeviceEntry];
      this.entries.delete(id);
      if (d.online) this.online--;
      this.dirty.delete(id);
      this.restartPending.delete(id);
      this.forgotten.add(id);
      this.sorted = undefined;
      this.evicted++;
      this.metrics.evicted.inc();
    }
  }

  // --- reads ----------------------------------------------------------------------------------------------------

  get(clientId: string): DeviceEntry | undefined {
    return this.entries.get(clientId);
  }

  /** Devices in client-id order after the cursor `after`, at most `limit`; `total` counts every match. */
  list(o: { limit: number; after?: string; filter?: DeviceFilter }): DevicePage {
    const ids = this.sortedIds();
    const want = o.filter?.online;
    const match = (d: DeviceEntry): boolean => want === undefined || d.online === want;
    let total = 0;
    for (const d of this.entries.values()) if (match(d)) total++;
    let i = o.after === undefined ? 0 : upperBound(ids, o.after);
    const devices: DeviceEntry[] = [];
    for (; i < ids.length && devices.length < o.limit; i++) {
      const d = this.entries.get(ids[i] as string) as DeviceEntry;
      if (match(d)) devices.push(d);
    }
    // A next page exists when a match remains after the last one returned.
    let next: string | null = null;
    if (devices.length === o.limit) {
      for (let j = i; j < ids.length; j++) {
        if (match(this.entries.get(ids[j] as string) as DeviceEntry)) {
          next = (devices[devices.length - 1] as DeviceEntry).clientId;
          break;
        }
      }
    }
    return { devices, next, total };
  }

  private sortedIds(): string[] {
    this.sorted ??= [...this.entries.keys()].sort(compareIds);
    return this.sorted;
  }

  // --- persistence ----------------------------------------------------------------------------------------------

  async start(): Promise<void> {
    await this.load();
    this.running = true;
    const ms = this.opts.flushMs ?? DEFAULT_FLUSH_MS;
    this.timer = setInterval(() => void this.flush(), ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    await this.flush();
  }

  /**
   * Loads the stored entries in least-recently-seen order. Nobody is connected to a gateway that is starting:
   * a device stored online lost its connection with the previous run, a disconnect with reason gateway_restart.
   */
  private async load(): Promise<void> {
    const loaded: DeviceEntry[] = [];
    for await (const [key, value] of this.opts.meta().iterator({ gte: KEY_PREFIX, lt: KEY_END })) {
      const d = parseEntry(key.slice(KEY_PREFIX.length), value);
      if (d) loaded.push(d);
      else this.opts.log.warn({ key }, 'unreadable device entry skipped');
    }
    loaded.sort((a, b) => a.lastSeen - b.lastSeen);
    for (const d of loaded) {
      if (d.online) {
        d.online = false;
        d.disconnects++;
        d.lastDisconnectReason = RESTART_REASON;
        this.restartPending.add(d.clientId);
        this.dirty.add(d.clientId);
      }
      this.entries.set(d.clientId, d);
    }
    this.evictFor(0);
    this.sorted = undefined;
    if (loaded.length > 0) this.opts.log.info({ devices: this.entries.size }, 'device registry loaded');
  }

  /** Writes the changed entries and deletes the forgotten ones in one batch; one flush at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeBatch());
    return this.flushing;
  }

  private async writeBatch(): Promise<void> {
    if (this.dirty.size === 0 && this.forgotten.size === 0) return;
    const ops: ({ type: 'put'; key: string; value: string } | { type: 'del'; key: string })[] = [];
    for (const id of this.dirty) {
      const d = this.entries.get(id);
      if (d) ops.push({ type: 'put', key: KEY_PREFIX + id, value: JSON.stringify(d) });
    }
    for (const id of this.forgotten) ops.push({ type: 'del', key: KEY_PREFIX + id });
    const dirty = [...this.dirty];
    const forgotten = [...this.forgotten];
    this.dirty.clear();
    this.forgotten.clear();
    this.writing = ops.length;
    try {
      await this.opts.meta().batch(ops);
      this.flushes++;
      this.lastFlushError = undefined;
    } catch (err) {
      // Kept for the next flush, unless changed or forgotten since (then that state is what is written).
      for (const id of dirty) if (this.entries.has(id)) this.dirty.add(id);
      for (const id of forgotten) if (!this.entries.has(id)) this.forgotten.add(id);
      this.lastFlushError = (err as Error).message;
      this.opts.log.warn({ err: this.lastFlushError }, 'device registry flush failed; retried on the next one');
    } finally {
      this.writing = 0;
    }
  }

  health(): PartHealth {
    return {
      state: this.running ? 'up' : 'stopped',
      known: this.entries.size,
      online: this.online,
      evicted: this.evicted,
      unflushed: this.dirty.size + this.forgotten.size + this.writing,
      flushes: this.flushes,
      ...(this.lastFlushError ? { lastFlushError: this.lastFlushError } : {}),
    };
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The index of the first id greater than `id`. */
function upperBound(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ids[mid] as string) <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
