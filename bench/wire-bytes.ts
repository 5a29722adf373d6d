// Bytes per record on the wire for each kafka.headers profile and compression codec: the records the forwarder builds
// (cloud-sync/sink-record.ts) from stored messages like `./gw bench`'s (256-byte payload, client ids of 13 characters,
// topic devices/<client id>/telemetry, a generated gateway id and epoch, 7-digit sequences), encoded into one Kafka
// record batch (v2, as produced: idempotent producer id, sequence) by @platformatic/kafka's own encoder, the one the
// default sink sends. The payload is a JSON reading padded with pseudo-random hex to 256 bytes. No broker: the produce request adds a few dozen bytes per batch, not per record.
// usage: node bench/wire-bytes.ts [--batch 500] [--devices 50] [--json]
import { createRecordsBatch } from '@platformatic/kafka';
import { type HeaderProfile, SinkRecordBuilder } from '../cloud-sync/sink-record.ts';
import type { StoredRecord } from '../gateway/store/codec.ts';
import { arg } from './lib/cli.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: ./gw bench wire-bytes [--batch 500] [--devices 50] [--json]');
  process.exit(0);
}
const batch = arg('batch', 500);
const devices = arg('devices', 50);
const profiles: HeaderProfile[] = ['full', 'compact', 'none'];
const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
const gatewayId = 'gw-3f9c2a71d04b8e65';

let lcg = 12345;
function noise(n: number): string {
  let s = '';
  for (let k = 0; k < n; k++) {
    lcg = (Math.imul(lcg, 1103515245) + 12345) >>> 0;
    s += ((lcg >>> 16) & 15).toString(16);
  }
  return s;
}

function stored(i: number): StoredRecord {
  const dev = `sim-dev-${String(i % devices).padStart(5, '0')}`;
  // A JSON reading padded to 256 bytes with pseudo-random hex (4 bits of entropy a byte): not one repeated byte,
  // which would flatter the codecs.
  const json = JSON.stringify({ dev, seq: i, t: 20 + (i % 97) / 10, ts: 1_764_650_000_000 + i * 7, pad: '' });
  const payload = Buffer.from(json.slice(0, -2) + noise(256 - json.length) + json.slice(-2));
  return {
    seq: 1_000_000 + i,
    size: 0,
    kafkaTopic: 'edge.uplink',
    key: dev,
    mqttTopic: `devices/${dev}/telemetry`,
    clientId: dev,
    username: '',
    qos: 1,
    retain: false,
    envelope: false,
    ingestTs: 1_764_650_000_000 + i * 7,
    deviceSeq: 1 + Math.floor(i / devices),
    payload,
  };
}

const rows: { profile: HeaderProfile; compression: string; bytesPerRecord: number }[] = [];
for (const profile of profiles) {
  const b = new SinkRecordBuilder({ profile, gatewayId, msgIdPrefix: `${gatewayId}-a1b2c3d4e5f6-` });
  for (const compression of codecs) {
    const messages = Array.from({ length: batch }, (_, i) => {
      const r = b.build(stored(i));
      return {
        key: r.key,
        value: r.value,
        headers: new Map(Object.entries(r.headers).map(([k, v]) => [Buffer.from(k), v])),
        topic: r.topic,
        timestamp: BigInt(1_764_650_000_000 + i * 7),
      };
    });
    const bytes = createRecordsBatch(messages, { compression, producerId: 4242n, producerEpoch: 0 }).length;
    rows.push({ profile, compression, bytesPerRecord: bytes / batch });
  }
}
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ batch, devices, payloadBytes: 256, rows }));
} else {
  console.log(
    `bytes per record on the wire, one record batch of ${batch} records from ${devices} devices, 256-byte payload`,
  );
  console.log(`| kafka.headers \\ kafka.compression | ${codecs.join(' | ')} |`);
  console.log(`| --- | ${codecs.map(() => '---').join(' | ')} |`);
  for (const profile of profiles) {
    const cells = codecs.map((c) =>
      rows.find((r) => r.profile === profile && r.compression === c)?.bytesPerRecord.toFixed(1),
    );
    console.log(`| ${profile} | ${cells.join(' | ')} |`);
  }
}
