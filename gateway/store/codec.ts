// Binary format of an outbox record (version 1). The key is the gateway-wide sequence (seq-key.ts), so a storage
// class iterates in arrival order. Layout of the value:
//   u8 version | u8 flags (bits 0-1 qos, bit 2 envelope, bit 3 retain) | f64 ingestTs | u48 deviceSeq
//   | u16+bytes kafkaTopic | u16+bytes key | u16+bytes mqttTopic | u16+bytes clientId | u16+bytes username | payload
// A format change bumps the version byte and ships a reader for the old one.
import { GatewayError } from '../errors.ts';

export const RECORD_VERSION = 1;
const FIXED = 1 + 1 + 8 + 6;

export interface OutboxRecord {
  kafkaTopic: string;
  key: string;
  mqttTopic: string;
  clientId: string;
  username: string;
  qos: number;
  retain: boolean;
  envelope: boolean;
  ingestTs: number;
  deviceSeq: number;
  payload: Buffer;
}

/** A record read back from a storage class, with its sequence and stored size. */
export interface StoredRecord extends OutboxRecord {
  seq: number;
  size: number;
}

export function encodeRecord(r: OutboxRecord): Buffer {
  return encodeWithStrings(encodeStrings(r.kafkaTopic, r.key, r.mqttTopic, r.clientId, r.username), r);
}

/** The length-prefixed string section of a record; constant per route, client and topic, so callers cache it. */
export function encodeStrings(
  kafkaTopic: string,
  key: string,
  mqttTopic: string,
  clientId: string,
  username: string,
): Buffer {
  const kt = Buffer.byteLength(kafkaTopic);
  const k = Buffer.byteLength(key);
  const mt = Buffer.byteLength(mqttTopic);
  const c = Buffer.byteLength(clientId);
  const u = Buffer.byteLength(username);
  const b = Buffer.allocUnsafe(10 + kt + k + mt + c + u);
  let o = writeStr(b, 0, kafkaTopic, kt);
  o = writeStr(b, o, key, k);
  o = writeStr(b, o, mqttTopic, mt);
  o = writeStr(b, o, clientId, c);
  writeStr(b, o, username, u);
  return b;
}

/** A record from its pre-encoded string section and the per-message fields. */
export function encodeWithStrings(
  strings: Buffer,
  r: Pick<OutboxRecord, 'qos' | 'envelope' | 'retain' | 'ingestTs' | 'deviceSeq' | 'payload'>,
): Buffer {
  const b = Buffer.allocUnsafe(FIXED + strings.length + r.payload.length);
  b[0] = RECORD_VERSION;
  b[1] = (r.qos & 3) | (r.envelope ? 4 : 0) | (r.retain ? 8 : 0);
  b.writeDoubleBE(r.ingestTs, 2);
  b.writeUIntBE(r.deviceSeq, 10, 6);
  strings.copy(b, FIXED);
  r.payload.copy(b, FIXED + strings.length);
  return b;
}

function writeStr(b: Buffer, o: number, s: string, len: number): number {
  b.writeUInt16BE(len, o);
  b.write(s, o + 2, len, 'utf8');
  return o + 2 + len;
}

export class RecordFormatError extends GatewayError {
  override name = 'RecordFormatError';
  constructor(message: string) {
    super('GW_ERR_RECORD_FORMAT', message);
  }
}

export function decodeRecord(seq: number, b: Buffer): StoredRecord {
  if (b[0] !== RECORD_VERSION) throw new RecordFormatError(`unknown outbox record version ${b[0]} at seq ${seq}`);
  const flags = b[1] ?? 0;
  let o = FIXED;
  const read = (): string => {
    const len = b.readUInt16BE(o);
    const s = b.toString('utf8', o + 2, o + 2 + len);
    o += 2 + len;
    return s;
  };
  const kafkaTopic = read();
  const key = read();
  const mqttTopic = read();
  const clientId = read();
  const username = read();
  return {
    seq,
    size: b.length,
    kafkaTopic,
    key,
    mqttTopic,
    clientId,
    username,
    qos: flags & 3,
    envelope: (flags & 4) !== 0,
    retain: (flags & 8) !== 0,
    ingestTs: b.readDoubleBE(2),
    deviceSeq: b.readUIntBE(10, 6),
    payload: b.subarray(o),
  };
}

/** Ingest time of an encoded record, without decoding the rest (for age limits). */
export function recordIngestTs(b: Buffer): number {
  return b.readDoubleBE(2);
}
