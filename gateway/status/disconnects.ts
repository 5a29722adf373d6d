// The last disconnects the status page lists: the most recent per device, at most `max` devices, newest first.
// Seeded from the device registry when the page's part starts (offline devices by last seen), then kept from the
// broker's client.disconnected events. Bounded: a Map of at most `max` entries.
import type { DeviceEntry } from '../registry/entry.ts';

export interface Disconnect {
  clientId: string;
  /** When (ms since the epoch). */
  at: number;
  reason: string | null;
}

/** What the status part reads of the device registry. */
export interface DeviceSource {
  list(o: { limit: number; after?: string; filter?: { online?: boolean } }): {
    devices: DeviceEntry[];
    next: string | null;
  };
  get(clientId: string): DeviceEntry | undefined;
}

const PAGE = 1000;

export class RecentDisconnects {
  private readonly max: number;
  /** Insertion order is recency order: a device seen again moves to the end. */
  private readonly byDevice = new Map<string, Disconnect>();

  constructor(max: number) {
    this.max = max;
  }

  add(d: Disconnect): void {
    const had = this.byDevice.get(d.clientId);
    if (had && had.at > d.at) return;
    if (had) this.byDevice.delete(d.clientId);
    // Older than every kept one while full: not among the last `max`.
    if (!had && this.byDevice.size >= this.max) {
      const oldest = this.byDevice.values().next().value as Disconnect;
      if (d.at < oldest.at) return;
    }
    this.byDevice.set(d.clientId, d);
    this.reorder();
    while (this.byDevice.size > this.max) this.byDevice.delete(this.byDevice.keys().next().value as string);
  }

  /** Newest first. */
  list(): Disconnect[] {
    return [...this.byDevice.values()].reverse();
  }

  /** The offline devices of the registry, by their last seen time. */
  seed(devices: DeviceSource): void {
    let after: string | undefined;
    for (;;) {
      const page = devices.list({ limit: PAGE, filter: { online: false }, ...(after ? { after } : {}) });
      for (const d of page.devices) {
        if (d.disconnects > 0) this.add({ clientId: d.clientId, at: d.lastSeen, reason: d.lastDisconnectReason });
      }
      if (page.next === null) return;
      after = page.next;
    }
  }

  /** Keeps the Map in time order when an event arrives out of order (rare: a few entries to sort). */
  private reorder(): void {
    let prev = -Infinity;
    let sorted = true;
    for (const d of this.byDevice.values()) {
      if (d.at < prev) sorted = false;
      prev = d.at;
    }
    if (sorted) return;
    const all = [...this.byDevice.values()].sort((a, b) => a.at - b.at);
    this.byDevice.clear();
    for (const d of all) this.byDevice.set(d.clientId, d);
  }
}
