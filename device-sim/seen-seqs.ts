// Which (device, seq) pairs a reader has seen. A run of an hour at 5,000 msg/s is 18 million records: a Set of
// "device\0seq" strings stops at V8's limit of 2^24 entries (RangeError) and costs ~100 bytes per entry on the way.
// One bit per sequence number per device costs 2 MB for those 18 million, whatever their order.

/** Sequence numbers past this (or negative, or fractional) go to a per-device Set instead of the bitmap. */
const MAX_BITMAP_SEQ = 2 ** 31 - 1;

class DeviceSeqs {
  bits = new Uint8Array(1024);
  other: Set<number> | undefined;

  add(seq: number): boolean {
    if (!Number.isInteger(seq) || seq < 0 || seq > MAX_BITMAP_SEQ) {
      this.other ??= new Set();
      if (this.other.has(seq)) return false;
      this.other.add(seq);
      return true;
    }
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      let len = this.bits.length;
      while (len <= byte) len *= 2;
      const grown = new Uint8Array(len);
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (seq & 7);
    if (this.bits[byte]! & mask) return false;
    this.bits[byte]! |= mask;
    return true;
  }
}

export class SeenSeqs {
  readonly #devices = new Map<string, DeviceSeqs>();
  #size = 0;

  /** Distinct pairs seen. */
  get size(): number {
    return this.#size;
  }

  /** Marks (device, seq) as seen; true when it had not been seen before. */
  add(device: string, seq: number): boolean {
    let d = this.#devices.get(device);
    if (!d) {
      d = new DeviceSeqs();
      this.#devices.set(device, d);
    }
    const fresh = d.add(seq);
    if (fresh) this.#size++;
    return fresh;
  }
}
