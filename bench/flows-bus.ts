// The bus of the flows benchmark: in memory on purpose, so the benchmark measures Node-RED's share of the work and
// not the store's (tests use the real ingest path, test/harness/ingest.ts). Taps get messages with a per-device
// sequence and ingest time, outbox appends are counted, and every completion is reported for latency.
import { EventEmitter } from 'node:events';
import type { FlowTap, GatewayBus, IngressMessage, OutboxAppend, TappedMessage } from '../gateway/bus.ts';
import { topicMatches } from '../gateway/topic.ts';

export class BenchBus implements GatewayBus {
  readonly #events = new EventEmitter();
  readonly taps = new Map<string, FlowTap>();
  completed = 0;
  appended = 0;
  /** Called when a tap completes a message (latency). */
  onComplete: ((msg: TappedMessage) => void) | undefined;
  readonly #seq = new Map<string, number>();

  /** Hands a message to every matching tap, stamped as the gateway would. */
  inject(msg: IngressMessage, ingestTs = Date.now()): void {
    const deviceSeq = (this.#seq.get(msg.clientId) ?? 0) + 1;
    this.#seq.set(msg.clientId, deviceSeq);
    const tapped: TappedMessage = { ...msg, deviceSeq, ingestTs, replay: false };
    for (const tap of this.taps.values()) {
      if (!topicMatches(tap.filter, msg.topic)) continue;
      let done = false;
      tap.deliver(tapped, () => {
        if (done) throw new Error(`complete() called twice for ${tap.id}/${msg.clientId}/${deviceSeq}`);
        done = true;
        this.completed++;
        this.onComplete?.(tapped);
      });
    }
  }

  async publish(): Promise<void> {}

  async appendOutbox(_rec: OutboxAppend): Promise<void> {
    this.appended++;
  }

  async subscribe(): Promise<() => Promise<void>> {
    return async () => {};
  }

  tap(tap: FlowTap): () => void {
    this.taps.set(tap.id, tap);
    this.#events.emit('change');
    return () => {
      if (this.taps.get(tap.id) === tap) this.taps.delete(tap.id);
    };
  }

  /** Resolves once a tap with `id` is registered; rejects after `timeoutMs`. */
  whenTapped(id: string, timeoutMs: number): Promise<void> {
    if (this.taps.has(id)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (!this.taps.has(id)) return;
        clearTimeout(timer);
        this.#events.off('change', onChange);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#events.off('change', onChange);
        reject(new Error(`no tap ${id} after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#events.on('change', onChange);
    });
  }
}
