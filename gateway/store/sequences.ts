// The store's two counters: the gateway-wide sequence (the key of every outbox record, meta `seq`) and each device's
// sequence (`device.seq`, meta `dseq!<id>`). Both are written in the group commit that first uses a new number.
import type { MetaDb } from './storage-class.ts';

const META_SEQ = 'seq';
const DEVICE_SEQ_BLOCK = 64;

export class Sequences {
  #seq = 0;
  readonly #deviceSeqs = new Map<string, number>();
  /** Per device, the highest sequence already reserved on disk (meta `dseq!<id>`). */
  readonly #deviceReserved = new Map<string, number>();
  #dirtyDevices = new Set<string>();

  async load(meta: MetaDb): Promise<void> {
    this.#seq = Number((await meta.get(META_SEQ)) ?? 0);
    for await (const [k, v] of meta.iterator({ gte: 'dseq!', lt: 'dseq"' })) {
      // Resume after the reserved block: numbers handed out before a crash are never handed out again.
      const reserved = Number(String(v));
      this.#deviceSeqs.set(String(k).slice(5), reserved);
      this.#deviceReserved.set(String(k).slice(5), reserved);
    }
  }

  get last(): number {
    return this.#seq;
  }

  next(): number {
    this.#seq += 1;
    return this.#seq;
  }

  nextForDevice(deviceId: string): number {
    const n = (this.#deviceSeqs.get(deviceId) ?? 0) + 1;
    this.#deviceSeqs.set(deviceId, n);
    // Per-device sequences are reserved in blocks, so a commit writes a device's counter once per block rather than
    // once per commit: fewer writes per batch (and less flash wear). After a crash a device's numbers jump to the end
    // of its block: they stay unique and increasing, with a gap.
    if (n > (this.#deviceReserved.get(deviceId) ?? 0)) {
      this.#deviceReserved.set(deviceId, n + DEVICE_SEQ_BLOCK - 1);
      this.#dirtyDevices.add(deviceId);
    }
    return n;
  }

  /** The meta writes of the next group commit: the sequence, and every device whose block moved. */
  takeMetaWrites(out: { key: string; value: string }[]): void {
    out.push({ key: META_SEQ, value: String(this.#seq) });
    for (const d of this.#dirtyDevices) out.push({ key: `dseq!${d}`, value: String(this.#deviceReserved.get(d)) });
    this.#dirtyDevices = new Set();
  }
}
