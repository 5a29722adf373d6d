// The clients online, kept in the store's meta (`online!<clientid>` -> connected_at and username) so a gateway that
// crashed can say at its next start which connections ended with it (client.disconnected, reason gateway_restart).
// Written on connect and disconnect only, never per message: in the same commit as the event's record (the event
// publisher passes the writes with it), so a crash keeps both or neither.
import type { MetaDb } from '../store/store.ts';

const PREFIX = 'online!';

export interface OnlineEntry {
  clientid: string;
  connectedAt: number;
  username: string | null;
}

export class OnlineSet {
  private readonly meta: MetaDb;
  private chain: Promise<void> = Promise.resolve();
  private pending: PendingBatch | undefined;
  /** The connection each client id has now (its connected_at), as recorded; the disk follows it. */
  private readonly current = new Map<string, number>();

  constructor(meta: MetaDb) {
    this.meta = meta;
  }

  /** The entries a previous run left: those clients were online when it ended without disconnecting them. */
  async leftOver(): Promise<OnlineEntry[]> {
    const out: OnlineEntry[] = [];
    for await (const [k, v] of this.meta.iterator({ gte: PREFIX, lt: 'online"' })) {
      let parsed: { connected_at?: unknown; username?: unknown } = {};
      try {
        parsed = JSON.parse(String(v)) as typeof parsed;
      } catch {}
      out.push({
        clientid: String(k).slice(PREFIX.length),
        connectedAt: typeof parsed.connected_at === 'number' ? parsed.connected_at : 0,
        username: typeof parsed.username === 'string' ? parsed.username : null,
      });
    }
    return out;
  }

  /** The entry of a new connection, written in the same commit as its client.connected record. */
  connectedWrite(e: OnlineEntry): { key: string; value: string } {
    this.current.set(e.clientid, e.connectedAt);
    return { key: PREFIX + e.clientid, value: JSON.stringify({ connected_at: e.connectedAt, username: e.username }) };
  }

  /**
   * The connection `connectedAt` of the client ended: the removal of its entry, written in the same commit as its
   * client.disconnected record — none when a newer connection of the same client id is online by now.
   */
  disconnectedWrite(clientid: string, connectedAt: number): { key: string } | undefined {
    this.disconnected(clientid, connectedAt);
    return this.current.has(clientid) ? undefined : { key: PREFIX + clientid };
  }

  /** The connection `connectedAt` of the client ended: forget it, unless a newer one of the same id is online. */
  disconnected(clientid: string, connectedAt: number): void {
    if (this.current.get(clientid) === connectedAt) this.current.delete(clientid);
  }

  /** Removes the entry once its client.disconnected is durable, unless the client id is online again by then. */
  forget(clientid: string): Promise<void> {
    return this.write({ clientid });
  }

  /** Resolves when every write asked for so far is done. */
  drain(): Promise<void> {
    return this.pending ? this.pending.written : this.chain;
  }

  /**
   * Writes gather for one turn of the event loop and go to LevelDB as one batch, in the order they were asked for;
   * batches are written one at a time. A churn of connections costs a few batches a second, not a write each.
   */
  private write(op: PendingOp): Promise<void> {
    if (!this.pending) {
      let resolve: () => void = () => {};
      let reject: (err: unknown) => void = () => {};
      const written = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const batch: PendingBatch = { ops: [], written, resolve, reject };
      this.pending = batch;
      setImmediate(() => {
        if (this.pending === batch) this.pending = undefined;
        const run = this.chain.then(() => this.flush(batch.ops));
        this.chain = run.catch(() => {});
        run.then(batch.resolve, batch.reject);
      });
    }
    this.pending.ops.push(op);
    return this.pending.written;
  }

  private async flush(ops: readonly PendingOp[]): Promise<void> {
    const batch = this.meta.batch();
    for (const op of ops) {
      if (op.value !== undefined) batch.put(PREFIX + op.clientid, op.value);
      // A removal asked for after a disconnect is skipped when the client id is online again by now.
      else if (!this.current.has(op.clientid)) batch.del(PREFIX + op.clientid);
    }
    await batch.write();
  }
}

interface PendingOp {
  clientid: string;
  /** The entry to put; undefined: remove it. */
  value?: string;
}

interface PendingBatch {
  ops: PendingOp[];
  written: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}
