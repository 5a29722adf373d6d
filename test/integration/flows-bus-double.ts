// An in-memory GatewayBus for the flows tests and bench, until the store-backed bus lands: taps get messages with a
// per-device sequence and ingest time, QoS >= 1 deliveries sit in a journal until completed (replayed to a tap with
// the same id when it registers), outbox appends are recorded and can be held back to observe "durable first".
import { EventEmitter } from 'node:events';
import type {
  FlowTap,
  GatewayBus,
  IngressMessage,
  OutboxAppend,
  PublishOptions,
  TappedMessage,
} from '../../gateway/bus.ts';
import { topicMatches } from '../../gateway/topic.ts';

export interface JournalEntry {
  tapId: string;
  msg: TappedMessage;
}

export class MemoryBus implements GatewayBus {
  readonly events = new EventEmitter();
  readonly taps = new Map<string, FlowTap>();
  readonly appends: OutboxAppend[] = [];
  readonly published: Array<{ msg: IngressMessage; opts: PublishOptions | undefined }> = [];
  /** Unfinished QoS >= 1 deliveries, by `${tapId}/${clientId}/${deviceSeq}`. */
  readonly journal = new Map<string, JournalEntry>();
  completed = 0;
  appended = 0;
  /** Keep appended records in `appends` (off in the bench, which only counts). */
  keepAppends = true;
  /** Set to hold appends: each append waits for this promise. */
  appendGate: Promise<void> | undefined;
  /** Set to make appends fail. */
  appendError: Error | undefined;
  /** Called when a tap completes a message (bench latency). */
  onComplete: ((msg: TappedMessage) => void) | undefined;
  readonly #seq = new Map<string, number>();

  /** Ingest like the broker would: stamp, journal QoS >= 1, hand to every matching tap. Returns deliveries. */
  inject(msg: IngressMessage, ingestTs = Date.now()): number {
    const deviceSeq = (this.#seq.get(msg.clientId) ?? 0) + 1;
    this.#seq.set(msg.clientId, deviceSeq);
    const tapped: TappedMessage = { ...msg, deviceSeq, ingestTs, replay: false };
    let n = 0;
    for (const tap of this.taps.values()) {
      if (!topicMatches(tap.filter, msg.topic)) continue;
      n++;
      this.#deliver(tap, tapped);
    }
    return n;
  }

  /** Seeds the journal as if the gateway crashed with this message inside a flow. */
  seedJournal(tapId: string, msg: IngressMessage, deviceSeq: number, ingestTs: number): void {
    const tapped: TappedMessage = { ...msg, deviceSeq, ingestTs, replay: true };
    this.journal.set(`${tapId}/${msg.clientId}/${deviceSeq}`, { tapId, msg: tapped });
  }

  #deliver(tap: FlowTap, msg: TappedMessage): void {
    const key = `${tap.id}/${msg.clientId}/${msg.deviceSeq}`;
    if (msg.qos > 0) this.journal.set(key, { tapId: tap.id, msg });
    let done = false;
    tap.deliver(msg, () => {
      if (done) throw new Error(`complete() called twice for ${key}`);
      done = true;
      this.journal.delete(key);
      this.completed++;
      this.onComplete?.(msg);
      this.events.emit('change');
    });
  }

  async publish(msg: IngressMessage, opts?: PublishOptions): Promise<void> {
    this.published.push({ msg, opts });
    this.events.emit('change');
  }

  async appendOutbox(rec: OutboxAppend): Promise<void> {
    if (this.appendGate) await this.appendGate;
    if (this.appendError) throw this.appendError;
    this.appended++;
    if (this.keepAppends) this.appends.push(rec);
    this.events.emit('change');
  }

  async subscribe(): Promise<() => Promise<void>> {
    return async () => {};
  }

  tap(tap: FlowTap): () => void {
    this.taps.set(tap.id, tap);
    this.events.emit('change');
    for (const entry of [...this.journal.values()]) {
      if (entry.tapId === tap.id) this.#deliver(tap, { ...entry.msg, replay: true });
    }
    return () => {
      if (this.taps.get(tap.id) === tap) this.taps.delete(tap.id);
      this.events.emit('change');
    };
  }

  appendsTo(kafkaTopic: string): OutboxAppend[] {
    return this.appends.filter((a) => a.kafkaTopic === kafkaTopic);
  }

  /** Resolves when `cond` holds, checked on every bus change; rejects after `timeoutMs`. */
  until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.events.off('change', onChange);
        resolve();
      };
      const timer = setTimeout(() => {
        this.events.off('change', onChange);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.events.on('change', onChange);
    });
  }
}
