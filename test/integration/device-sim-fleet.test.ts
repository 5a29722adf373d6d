// The fleet against a plain in-memory broker: every device sends its count, door-locks answer commands, devices
// that drop their link (churn, tracker offline periods) come back and deliver what they queued.
import { connect } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { runFleet } from '../../device-sim/fleet.ts';
import { ledgerTotals } from '../../device-sim/ledger.ts';
import { type LocalBroker, startLocalBroker } from '../../device-sim/local-broker.ts';
import { parseSimPayload } from '../../device-sim/payload.ts';

let broker: LocalBroker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

describe('device-sim fleet', () => {
  it('runs mixed profiles to a count; every message acked once; door-locks answer commands', async () => {
    broker = await startLocalBroker();
    const b = broker;
    const seen = new Map<string, number[]>();
    b.broker.on('publish', (packet, client) => {
      if (!client) return;
      const f = parseSimPayload(packet.payload as Buffer);
      if (!f) return;
      const list = seen.get(f.device) ?? [];
      list.push(f.seq);
      seen.set(f.device, list);
    });
    // An operator sends lock commands to lock-0001 as soon as it is up, and collects the replies.
    const operator = connect(b.url, { clientId: 'operator', protocolVersion: 4 });
    const replies: unknown[] = [];
    await new Promise<void>((resolve) => operator.once('connect', () => resolve()));
    await operator.subscribeAsync('devices/+/command/reply', { qos: 1 });
    operator.on('message', (_t, payload) => replies.push(JSON.parse(payload.toString())));
    const commander = setInterval(() => {
      operator.publish('devices/lock-0001/command', JSON.stringify({ id: `c${replies.length}`, cmd: 'unlock' }), {
        qos: 1,
      });
    }, 200);
    try {
      const res = await runFleet({
        url: b.url,
        devices: 24,
        profiles: ['door-lock', 'vehicle', 'factory-sensor', 'logistics-tracker'],
        count: 15,
        // Door-locks send rarely: the duration ends them; the others reach their count well before.
        durationMs: 5_000,
        intervalMs: 40,
        qos: 1,
        churn: 6, // 10 % of the connected devices per second
        offlineScale: 0.02, // tracker offline periods of 0.2–2.4 s
        quiet: true,
        seed: 11,
      });
      const t = ledgerTotals(res.ledger);
      expect(t.devices).toBe(24);
      expect(t.acked).toBe(t.sent);
      for (const d of Object.values(res.ledger.devices)) {
        // Door-locks send only on change, on the heartbeat and when commanded; the others exactly their count.
        if (!d.id.startsWith('lock-')) expect(d.sent, d.id).toBe(15);
        expect(d.acked).toEqual(d.sent ? [[1, d.sent]] : []);
        const got = [...new Set(seen.get(d.id) ?? [])].sort((x, y) => x - y);
        expect(got).toEqual(Array.from({ length: d.sent }, (_, i) => i + 1));
      }
      expect(res.stats.commands).toBeGreaterThan(0);
      expect(replies.length).toBeGreaterThan(0);
      expect(replies[0]).toMatchObject({ device: 'lock-0001', result: 'ok', profile: 'door-lock' });
      expect(res.stats.churned + res.stats.offlinePeriods).toBeGreaterThan(0);
      expect(res.ledger.devices['lock-0001']!.topics).toEqual(
        expect.arrayContaining(['devices/lock-0001/command/reply', 'devices/lock-0001/state']),
      );
    } finally {
      clearInterval(commander);
      await operator.endAsync();
    }
  });
});
