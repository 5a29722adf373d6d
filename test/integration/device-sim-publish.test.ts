// publish against a plain in-memory broker whose connections are cut mid-run: every seq is acked in the end, and
// the broker received every acked seq (retransmits after reconnect are MQTT.js's, with clean:false).
import { afterEach, describe, expect, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { ledgerTotals } from '../../device-sim/ledger.ts';
import { type LocalBroker, startLocalBroker } from '../../device-sim/local-broker.ts';
import { parseSimPayload } from '../../device-sim/payload.ts';
import { hasSeq } from '../../device-sim/ranges.ts';

let broker: LocalBroker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

describe('device-sim publish', () => {
  it('keeps going through dropped connections and acks every message', async () => {
    broker = await startLocalBroker();
    const b = broker;
    const received = new Map<string, number>();
    b.broker.on('publish', (packet, client) => {
      if (!client) return;
      const f = parseSimPayload(packet.payload as Buffer);
      if (f) received.set(`${f.device}#${f.seq}`, (received.get(`${f.device}#${f.seq}`) ?? 0) + 1);
    });
    let drops = 0;
    // Cut every connection each time another 1,000 messages arrived, three times.
    const onPublish = (): void => {
      if (received.size >= (drops + 1) * 1000 && drops < 3) {
        drops++;
        b.dropConnections();
      }
    };
    b.broker.on('publish', onPublish);
    const ledger = await runPublish({
      url: b.url,
      clients: 5,
      count: 1000,
      qos: 1,
      topic: 'devices/{id}/telemetry',
      prefix: 'pt',
      size: 200,
      inflight: 20,
      quiet: true,
      drainTimeoutMs: 30_000,
    });
    expect(drops).toBe(3);
    expect(ledgerTotals(ledger)).toEqual({ devices: 5, sent: 5000, acked: 5000 });
    for (const d of Object.values(ledger.devices)) {
      expect(d.acked).toEqual([[1, 1000]]);
      expect(d.connects).toBeGreaterThanOrEqual(2);
      expect(d.times?.deltas.length).toBe(999);
      for (let seq = 1; seq <= 1000; seq++) {
        if (hasSeq(d.acked, seq)) expect(received.has(`${d.id}#${seq}`)).toBe(true);
      }
    }
  });

  it('QoS 0 records sends but no acks; the rate limit holds', async () => {
    broker = await startLocalBroker();
    const started = Date.now();
    const ledger = await runPublish({
      url: broker.url,
      clients: 2,
      count: 50,
      qos: 0,
      rate: 200,
      topic: 't/{n}',
      prefix: 'q0',
      size: 0,
      inflight: 5,
      quiet: true,
    });
    // 100 messages at 200/s take about half a second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(ledgerTotals(ledger)).toEqual({ devices: 2, sent: 100, acked: 0 });
    expect(ledger.devices['q0-0001']?.topics).toEqual(['t/1']);
  });
});
