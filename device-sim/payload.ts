// The simulator's message body: JSON that names its device, run and per-device sequence, so a reader of Kafka can
// match every record to the ledger without trusting anything the gateway adds.

export interface SimFields {
  device: string;
  seq: number;
  ts: number;
  run: string;
}

/** JSON `{"device","seq","ts","run",...extra}` padded with a `pad` string to at least `size` bytes. */
export function buildPayload(fields: SimFields, size = 0, extra?: Record<string, unknown>): Buffer {
  const body: Record<string, unknown> = { ...fields, ...extra };
  let text = JSON.stringify(body);
  const short = size - Buffer.byteLength(text);
  // `,"pad":""` costs 9 bytes; below that the message is left as it is.
  if (short >= 9) {
    body.pad = 'x'.repeat(short - 9);
    text = JSON.stringify(body);
  }
  return Buffer.from(text);
}

/** Reads the sim fields back; undefined for anything the simulator did not write. */
export function parseSimPayload(buf: Buffer | Uint8Array | string): SimFields | undefined {
  let v: unknown;
  try {
    v = JSON.parse(typeof buf === 'string' ? buf : Buffer.from(buf).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.device !== 'string' || typeof o.seq !== 'number' || !Number.isInteger(o.seq)) return undefined;
  return {
    device: o.device,
    seq: o.seq,
    ts: typeof o.ts === 'number' ? o.ts : Number.NaN,
    run: typeof o.run === 'string' ? o.run : '',
  };
}

/** Zero-padded device number: sim-0001 … sim-9999, wider when the fleet is larger. */
export function deviceId(prefix: string, n: number, total: number): string {
  const width = Math.max(4, String(total).length);
  return `${prefix}-${String(n).padStart(width, '0')}`;
}

export function expandTopic(template: string, id: string, n: number): string {
  return template.replaceAll('{id}', id).replaceAll('{n}', String(n));
}
