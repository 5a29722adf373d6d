// The key of an outbox record and of a flow-journal entry: the gateway-wide sequence as 8 bytes, big-endian
// (u16 high part, u48 low part), so LevelDB iterates a storage class in arrival order. The only place that knows
// the layout: the store writes it, the store and the budget sweep read it back.

export const SEQ_KEY_BYTES = 8;

/** Writes `seq` at `offset` of `b` (8 bytes). */
export function writeSeqKey(b: Buffer, offset: number, seq: number): void {
  b.writeUInt16BE(Math.floor(seq / 2 ** 48), offset);
  b.writeUIntBE(seq % 2 ** 48, offset + 2, 6);
}

/** The 8-byte key of `seq`. */
export function encodeSeq(seq: number): Buffer {
  const b = Buffer.allocUnsafe(SEQ_KEY_BYTES);
  writeSeqKey(b, 0, seq);
  return b;
}

/** The sequence in the 8 bytes at `offset` of `b`. */
export function decodeSeq(b: Buffer, offset = 0): number {
  return b.readUInt16BE(offset) * 2 ** 48 + b.readUIntBE(offset + 2, 6);
}

/** `prefix` followed by the key of `seq`, in one buffer (a root-level key with its sublevel prefix). */
export function prefixedSeqKey(prefix: Buffer, seq: number): Buffer {
  const k = Buffer.allocUnsafe(prefix.length + SEQ_KEY_BYTES);
  prefix.copy(k, 0);
  writeSeqKey(k, prefix.length, seq);
  return k;
}
