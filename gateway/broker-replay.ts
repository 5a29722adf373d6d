// A persistent session's stored queue is replayed by aedes 1.2 after the session's subscriptions are restored
// (lib/handlers/connect.js: restoreSubs … doConnack, emptyQueue). A message queued for the session in between is
// handed to the new connection live and is also in the queue the replay reads, so the device got it twice on one
// connection (seen with a cloud command published while its device reconnected). ReplayGuard keeps, per client
// while its replay runs, the queued messages written to it live, and the replay skips those. A message the replay
// reads while it is still being handed to the subscribers waits until it has been, so it is known whether it went
// out live. Nothing is kept for a client without a replay running, and a replay's sets end with it.
import type { QueuedPacket } from './broker-offline-queue.ts';

type Ref = Pick<QueuedPacket, 'brokerId' | 'brokerCounter'>;
const keyOf = (p: Ref): string => `${p.brokerId ?? ''}:${p.brokerCounter ?? 0}`;

/** How long a replayed message waits at most for its live hand-out to finish (a subscriber slow to take it). */
const HAND_OUT_WAIT_MS = 2_000;

interface Replay {
  /** Written to the connection live since the replay began. */
  live: Set<string>;
  /** Handed out by the replay. */
  replayed: Set<string>;
}

export interface ReplayFilter {
  /** Calls `decide(true)` when `p` is to be written by the replay, `decide(false)` when it already went out live. */
  pass(p: Ref, decide: (send: boolean) => void): void;
  end(): void;
}

export class ReplayGuard {
  private brokerId = '';
  private readonly replays = new Map<string, Replay>();
  /** Stored numbers of this broker's queued packets not yet handed to the subscribers, and who waits for each. */
  private readonly handingOut = new Map<number, (() => void)[] | undefined>();

  setBroker(id: string): void {
    this.brokerId = id;
  }

  /** `p`, of this broker, is about to be queued: until `handedOut`, a replay that reads it waits. */
  queueing(p: Ref): void {
    if (p.brokerId === this.brokerId && typeof p.brokerCounter === 'number' && !this.handingOut.has(p.brokerCounter)) {
      this.handingOut.set(p.brokerCounter, undefined);
    }
  }

  /** Every subscriber was handed the packet stored as `stored` (or its queueing failed). */
  handedOut(stored: number): void {
    if (this.handingOut.size === 0 || !this.handingOut.has(stored)) return;
    const waiters = this.handingOut.get(stored);
    this.handingOut.delete(stored);
    if (waiters) for (const w of waiters) w();
  }

  /** `clientId`'s connection is written `p` (aedes' outgoingUpdate): live, unless its replay handed it out. */
  sent(clientId: string, p: Ref): void {
    if (this.replays.size === 0) return;
    const r = this.replays.get(clientId);
    if (!r) return;
    const k = keyOf(p);
    if (!r.replayed.has(k)) r.live.add(k);
  }

  /**
   * A persistent session of `clientId` connects (aedes reads its subscriptions): from here, when they are restored,
   * messages go to it live before its replay begins. A later connection of the same client starts again.
   */
  connecting(clientId: string): void {
    this.replays.set(clientId, { live: new Set(), replayed: new Set() });
  }

  /** The replay of `clientId`'s queue begins: it skips what went out live since the connection's `connecting`. */
  begin(clientId: string): ReplayFilter {
    let r = this.replays.get(clientId);
    if (!r) {
      r = { live: new Set(), replayed: new Set() };
      this.replays.set(clientId, r);
    }
    const replay = r;
    return {
      pass: (p, decide) => {
        let done = false;
        const settle = (): void => {
          if (done) return;
          done = true;
          const k = keyOf(p);
          const send = !replay.live.has(k);
          if (send) replay.replayed.add(k);
          decide(send);
        };
        const stored = p.brokerId === this.brokerId ? p.brokerCounter : undefined;
        if (stored === undefined || !this.handingOut.has(stored)) {
          settle();
          return;
        }
        const waiters = this.handingOut.get(stored) ?? [];
        waiters.push(settle);
        this.handingOut.set(stored, waiters);
        setTimeout(settle, HAND_OUT_WAIT_MS).unref();
      },
      end: () => {
        if (this.replays.get(clientId) === replay) this.replays.delete(clientId);
      },
    };
  }
}
