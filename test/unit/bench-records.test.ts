// The raw sink benchmark sends what the forwarder sends: the same header names with values of the same sizes, the
// same key, the same payload (compared with the forwarder's own record for one stored message, through an in-memory
// KafkaSink at the library boundary).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, expect, it, vi } from 'vitest';
import { recordFactory } from '../../bench/lib/records.ts';
import { Forwarder } from '../../cloud-sync/forwarder.ts';
import type { KafkaSink, SinkRecord } from '../../cloud-sync/sinks/types.ts';
import { Store } from '../../gateway/store/store.ts';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'bench-records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sizes = (r: SinkRecord): Record<string, number> =>
  Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.length]));

async function forwarded(clientId: string): Promise<SinkRecord> {
  const store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 10, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: { default: { maxBytes: 1e9, maxAgeSec: 0, policy: 'reject' } },
    log,
  });
  await store.start();
  const sent: SinkRecord[] = [];
  const sink: KafkaSink = {
    name: 'memory',
    connect: async () => {},
    send: async (records) => {
      sent.push(...records);
    },
    close: async () => {},
  };
  const fwd = new Forwarder({
    store,
    gatewayId: 'gw-test',
    batch: { maxRecords: 10, maxBytes: 1 << 20, lingerMs: 0 },
    retry: { initialMs: 10, maxMs: 20 },
    log,
    createSink: async () => sink,
  });
  const to = [store.outbox.destination({ class: 'default', kafkaTopic: 't', key: (m) => m.clientId, envelope: false })];
  const payload = Buffer.alloc(256, 120);
  await new Promise<void>((resolve) =>
    store.outbox.append({ topic: `devices/${clientId}/telemetry`, payload, qos: 1, clientId }, to, {}, () => resolve()),
  );
  fwd.start();
  await vi.waitFor(() => expect(sent).toHaveLength(1), { timeout: 10_000 });
  await fwd.stop();
  await store.stop();
  return sent[0] as SinkRecord;
}

it("the gateway header set has the forwarder's names and sizes, key and payload", async () => {
  const ours = recordFactory({ topic: 't', devices: 100, payloadBytes: 256, headers: 'gateway' })(0);
  const theirs = await forwarded(`rawbench-${process.pid}-0`);
  expect(sizes(ours)).toEqual(sizes(theirs));
  expect(Object.keys(ours.headers).sort()).toEqual(Object.keys(theirs.headers).sort());
  expect(ours.key).toEqual(theirs.key);
  expect(ours.value).toEqual(theirs.value);
});

it('the two-header set is gateway.msg_id and device.seq, counting per device', () => {
  const record = recordFactory({ topic: 't', devices: 100, payloadBytes: 256, headers: 'two' });
  expect(Object.keys(record(0).headers)).toEqual(['gateway.msg_id', 'device.seq']);
  expect(record(250).headers['device.seq']?.toString()).toBe('3');
  expect(record(250).key.toString()).toBe(`rawbench-${process.pid}-50`);
  expect(record(250).headers['gateway.msg_id']?.toString()).toMatch(/^gw-test-[0-9a-f]{12}-251$/);
});
