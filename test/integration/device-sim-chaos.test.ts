// The short chaos scenario against the real gateway (a child process) and a real Kafka of its own (it is stopped and
// started): a Kafka outage, a gateway SIGKILL and a silent blackhole on the device link, ending with zero lost and
// nothing out of order, counted by the independent reader.
import { describe, expect, it } from 'vitest';
import { netnsAvailable } from '../../device-sim/chaos/netns.ts';
import { runChaos } from '../../device-sim/chaos/run.ts';
import { parseScenario } from '../../device-sim/chaos/scenario.ts';
import { renderHtml } from '../../device-sim/report-html.ts';

const SCENARIO = `
name: ci-test
kafka: local
fleet:
  devices: 20
  profiles: [vehicle, factory-sensor, door-lock, logistics-tracker]
  interval: 250
  duration: 30
  qos: 1
steps:
  - { at: 3, do: kafka-stop }
  - { at: 8, do: kafka-start }
  - { at: 14, do: gateway-kill }
  - { at: 20, do: blackhole, for: 4 }
verify:
  timeout: 60
`;

describe('device-sim chaos', () => {
  it('Kafka stop, gateway SIGKILL and a blackhole: nothing acknowledged is lost', async () => {
    const lines: string[] = [];
    const res = await runChaos(parseScenario(SCENARIO), { quiet: true, log: (l) => lines.push(l) });
    const labels = res.events.map((e) => e.label);
    expect(labels).toEqual(
      expect.arrayContaining([
        'kafka stop',
        'kafka start',
        'gateway SIGKILL',
        'gateway up',
        'blackhole',
        'link restored',
      ]),
    );
    expect(res.gatewayStarts).toBe(2);
    const r = res.report;
    expect(r.totals.expected).toBeGreaterThan(500);
    expect(r.totals.lost).toBe(0);
    expect(r.totals.outOfOrder).toBe(0);
    expect(r.ok).toBe(true);
    // Every device lost its connection at the kill and came back.
    const disconnects = Object.values(res.ledger.devices).reduce((n, d) => n + d.disconnects, 0);
    expect(disconnects).toBeGreaterThanOrEqual(20);
    const html = renderHtml({ title: 'ci', ledger: res.ledger, samples: res.samples, verify: r, marks: res.events });
    expect(html).toContain('gateway SIGKILL');
  });
});

// Network namespaces, veth links and a tmpfs mount need root; without it this one cannot run at all.
const canIsolate = process.getuid?.() === 0 && (await netnsAvailable());

const ISOLATED = `
name: ci-isolated
kafka: local
network: namespace
disk: { size_mb: 64 }
fleet:
  devices: 12
  profiles: [vehicle, factory-sensor]
  interval: 250
  duration: 30
  qos: 1
steps:
  - { at: 3, do: uplink-blackhole, for: 6 }
  - { at: 12, do: disk-full, for: 6 }
  - { at: 22, do: gateway-kill }
verify:
  timeout: 60
`;

describe.skipIf(!canIsolate)('device-sim chaos with the gateway in its own network namespace', () => {
  it('uplink link down, a full data disk and a SIGKILL: nothing acknowledged is lost', async () => {
    const res = await runChaos(parseScenario(ISOLATED), { quiet: true, log: () => {} });
    expect(res.events.map((e) => e.label)).toEqual(
      expect.arrayContaining(['uplink down', 'uplink up', 'data disk freed', 'gateway SIGKILL', 'gateway up']),
    );
    expect(res.events.some((e) => e.label.startsWith('data disk full'))).toBe(true);
    const r = res.report;
    expect(r.totals.expected).toBeGreaterThan(300);
    expect(r.totals.lost).toBe(0);
    expect(r.totals.outOfOrder).toBe(0);
    // While the uplink was down, records waited in the gateway: the slowest took at least that long.
    expect(r.latency!.max).toBeGreaterThan(5_000);
  });
});
