// The flow journal: a QoS >= 1 message handed to a flow input is kept here, written in the same group commit as its
// outbox records, until the flow completes it; at the next start it is replayed to the input with the same id
// (at-least-once through flows, promise 6). Keys: `<tap id>\0` then the message's gateway sequence (seq-key.ts).
import { decodeRecord, encodeRecord } from './codec.ts';
import type { GroupCommit } from './group-commit.ts';
import type { OutboxMessage } from './message.ts';
import { prefixedSeqKey } from './seq-key.ts';
import type { ClassDb } from './storage-class.ts';

/** A flow input's place in the journal: made once per input, used for every message handed to it. */
export interface JournalTap {
  readonly id: string;
  /** `<id>\0`: the start of its keys. */
  readonly prefix: Buffer;
}

/** A journaled message read back at replay, with what the store stamped on it. */
export interface JournaledMessage extends OutboxMessage {
  deviceSeq: number;
  ingestTs: number;
}

export class Journal {
  readonly #db: ClassDb;
  readonly #rootPrefix: Buffer;
  readonly #writer: GroupCommit;

  constructor(db: ClassDb, writer: GroupCommit) {
    this.#db = db;
    this.#rootPrefix = Buffer.from(db.prefix);
    this.#writer = writer;
  }

  tap(id: string): JournalTap {
    return { id, prefix: Buffer.from(`${id}\u0000`) };
  }

  /**
   * The journal entries of one message handed to `taps` (root keys for the commit unit, entry keys for complete()).
   * QoS 0 messages are not journaled: their keys are undefined.
   */
  put(
    taps: readonly JournalTap[],
    seq: number,
    msg: OutboxMessage,
    stamp: { deviceSeq: number; ingestTs: number },
    out: { key: Buffer; value: Buffer }[],
  ): (Buffer | undefined)[] {
    if (msg.qos === 0) return taps.map(() => undefined);
    const value = encodeRecord({
      kafkaTopic: '',
      key: '',
      mqttTopic: msg.topic,
      clientId: msg.clientId,
      username: msg.username ?? '',
      qos: msg.qos,
      retain: msg.retain ?? false,
      envelope: false,
      ingestTs: stamp.ingestTs,
      deviceSeq: stamp.deviceSeq,
      payload: msg.payload,
    });
    return taps.map((t) => {
      const key = prefixedSeqKey(t.prefix, seq);
      out.push({ key: Buffer.concat([this.#rootPrefix, key]), value });
      return key;
    });
  }

  /** The flow is done with the entry: removed with the next commit (a lost delete only replays it once more). */
  complete(key: Buffer): void {
    this.#writer.delete([Buffer.concat([this.#rootPrefix, key])]);
  }

  /** The entries of `tap` still on disk, oldest first. */
  async *replay(tap: JournalTap): AsyncGenerator<{ key: Buffer; msg: JournaledMessage }> {
    const end = Buffer.from(tap.prefix);
    end[end.length - 1] = 1;
    for await (const [k, v] of this.#db.iterator({ gte: tap.prefix, lt: end })) {
      const r = decodeRecord(0, v);
      yield {
        key: Buffer.from(k),
        msg: {
          topic: r.mqttTopic,
          payload: r.payload,
          qos: r.qos as 0 | 1 | 2,
          clientId: r.clientId,
          username: r.username || undefined,
          retain: r.retain,
          deviceSeq: r.deviceSeq,
          ingestTs: r.ingestTs,
        },
      };
    }
  }
}
