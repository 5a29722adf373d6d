// The records the raw sink benchmark sends: what the forwarder sends for the load of `./gw bench` (bench/run.ts), so
// the raw rows differ from the drain row only by the store and the forwarder.
import { randomBytes } from 'node:crypto';
import { HEADER } from '../../cloud-sync/record.ts';
import type { SinkRecord } from '../../cloud-sync/sinks/index.ts';

export type HeaderSet = 'gateway' | 'two';

export interface RecordShape {
  topic: string;
  /** Publishing devices (bench/publisher-raw.ts connections); record i comes from device i % devices. */
  devices: number;
  payloadBytes: number;
  headers: HeaderSet;
  /** The gateway id (the harness's gateway runs as `gw-test`). */
  gatewayId?: string;
}

/**
 * Record `i` (from 0) as the forwarder builds it from the stored message with `kafka.headers: full`
 * (cloud-sync/sink-record.ts): key = client id, the 8 headers of HEADER with values of the same sizes (client id
 * `rawbench-<pid>-<n>`, topic `devices/<client id>/telemetry`, msg id `<gateway id>-<12 hex epoch>-<seq>`, millisecond ingest time), or only
 * gateway.msg_id and device.seq for `two`.
 */
export function recordFactory(shape: RecordShape): (i: number) => SinkRecord {
  const payload = Buffer.alloc(shape.payloadBytes, 120);
  const gatewayId = shape.gatewayId ?? 'gw-test';
  const gatewayIdBuf = Buffer.from(gatewayId);
  const qos = Buffer.from('1');
  const msgIdPrefix = `${gatewayId}-${randomBytes(6).toString('hex')}-`;
  const clients = Array.from({ length: shape.devices }, (_, n) => `rawbench-${process.pid}-${n}`);
  return (i) => {
    const clientId = clients[i % shape.devices] as string;
    const gwSeq = String(i + 1);
    const deviceSeq = Buffer.from(String(Math.floor(i / shape.devices) + 1));
    const msgId = Buffer.from(msgIdPrefix + gwSeq);
    const headers: Record<string, Buffer> =
      shape.headers === 'two'
        ? { [HEADER.msgId]: msgId, [HEADER.deviceSeq]: deviceSeq }
        : {
            [HEADER.topic]: Buffer.from(`devices/${clientId}/telemetry`),
            [HEADER.clientId]: Buffer.from(clientId),
            [HEADER.qos]: qos,
            [HEADER.gatewayId]: gatewayIdBuf,
            [HEADER.gatewaySeq]: Buffer.from(gwSeq),
            [HEADER.msgId]: msgId,
            [HEADER.deviceSeq]: deviceSeq,
            [HEADER.ingestTs]: Buffer.from(String(Date.now())),
          };
    return { topic: shape.topic, key: Buffer.from(clientId), value: payload, headers };
  };
}
