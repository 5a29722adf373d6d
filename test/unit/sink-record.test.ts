// The record the forwarder hands its sink, per header profile (kafka.headers): exactly the profile's headers, with
// the values the stored record gives; the key, the raw value and the envelope as before.
import { expect, it } from 'vitest';
import { HEADER } from '../../cloud-sync/record.ts';
import { type HeaderProfile, SinkRecordBuilder } from '../../cloud-sync/sink-record.ts';
import type { StoredRecord } from '../../gateway/store/codec.ts';

function stored(seq: number, over: Partial<StoredRecord> = {}): StoredRecord {
  return {
    seq,
    size: 100,
    kafkaTopic: 'edge.uplink',
    key: 'dev-1',
    mqttTopic: 'devices/dev-1/telemetry',
    clientId: 'dev-1',
    username: '',
    qos: 1,
    retain: false,
    envelope: false,
    ingestTs: 1_764_650_000_123,
    deviceSeq: 42,
    payload: Buffer.from('{"t":21.5}'),
    ...over,
  };
}

const builder = (profile: HeaderProfile) =>
  new SinkRecordBuilder({ profile, gatewayId: 'gw-a', msgIdPrefix: 'gw-a-0123456789ab-' });

function text(h: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString()]));
}

it('full: the 8 headers, with the stored record’s values', () => {
  const r = builder('full').build(stored(1234567));
  expect(text(r.headers)).toEqual({
    [HEADER.topic]: 'devices/dev-1/telemetry',
    [HEADER.clientId]: 'dev-1',
    [HEADER.qos]: '1',
    [HEADER.gatewayId]: 'gw-a',
    [HEADER.gatewaySeq]: '1234567',
    [HEADER.msgId]: 'gw-a-0123456789ab-1234567',
    [HEADER.deviceSeq]: '42',
    [HEADER.ingestTs]: '1764650000123',
  });
  expect(r.topic).toBe('edge.uplink');
  expect(r.key.toString()).toBe('dev-1');
  expect(r.value.toString()).toBe('{"t":21.5}');
});

it('compact: only gateway.msg_id and mqtt.topic', () => {
  const r = builder('compact').build(stored(7, { mqttTopic: 'devices/dev-1/état' }));
  expect(text(r.headers)).toEqual({ [HEADER.msgId]: 'gw-a-0123456789ab-7', [HEADER.topic]: 'devices/dev-1/état' });
});

it('none: no headers, the same key and value', () => {
  const r = builder('none').build(stored(7));
  expect(r.headers).toEqual({});
  expect(r.key.toString()).toBe('dev-1');
  expect(r.value.toString()).toBe('{"t":21.5}');
});

it('each record gets its own id, also when records share their strings', () => {
  const b = builder('full');
  const recs = [1, 2, 10, 999_999_999_999].map((seq) => b.build(stored(seq)));
  expect(recs.map((r) => r.headers[HEADER.msgId]?.toString())).toEqual([
    'gw-a-0123456789ab-1',
    'gw-a-0123456789ab-2',
    'gw-a-0123456789ab-10',
    'gw-a-0123456789ab-999999999999',
  ]);
  expect(recs.map((r) => r.headers[HEADER.gatewaySeq]?.toString())).toEqual(['1', '2', '10', '999999999999']);
});

it('keys and topics of many devices stay each its own (past the encoded-string cache)', () => {
  const b = builder('compact');
  for (let i = 0; i < 20_000; i++) {
    const r = b.build(stored(i + 1, { key: `dev-${i}`, mqttTopic: `devices/dev-${i}/t`, clientId: `dev-${i}` }));
    if (r.key.toString() !== `dev-${i}` || r.headers[HEADER.topic]?.toString() !== `devices/dev-${i}/t`) {
      throw new Error(`record ${i}: key ${r.key} topic ${r.headers[HEADER.topic]}`);
    }
  }
});

it('envelope: the JSON of the EMQX bridge, with the gateway id as node', () => {
  const r = builder('compact').build(stored(3, { envelope: true, username: 'u1' }));
  expect(JSON.parse(r.value.toString())).toEqual({
    client_id: 'dev-1',
    username: 'u1',
    topic: 'devices/dev-1/telemetry',
    payload: Buffer.from('{"t":21.5}').toString('base64'),
    qos: 1,
    node: 'gw-a',
    ts: 1_764_650_000_123,
  });
});
