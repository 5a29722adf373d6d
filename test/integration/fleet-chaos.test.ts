// The fleet-of-gateways scenario for CI (device-sim/scenarios/fleet-ci.yaml) through the CLI (`device-sim chaos
// --json`): five real gateway processes, each with its own balena device UUID, data dir and four devices, into one
// local Kafka. Kafka stops; during the outage gateway 3 is SIGKILLed and its volume wiped, then it comes back with the
// same id on an empty store; Kafka returns; gateway 2 is SIGKILLed and restarted on its volume. Per gateway: nothing
// acknowledged lost (on gateway 3 only what its backlog held at the kill, counted apart and within its bound), each
// device in order, every record under its own gateway's id, a new epoch after the wipe, no gateway.msg_id shared by
// two messages. The same checks fail a fleet whose gateways were all given one id (`--same-gateway-id`).
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayFleetFigures } from '../../device-sim/chaos/fleet-figures.ts';
import { chaosCli } from '../harness/chaos-cli.ts';

interface CliResult {
  ok: boolean;
  events: { t: number; label: string }[];
  report: { totals: { expected: number; found: number; lost: number; outOfOrder: number } };
  gatewayFleet: GatewayFleetFigures;
}

describe('fleet of gateways chaos scenario', () => {
  it('five gateways, one volume wiped during a Kafka outage: nothing lost from the others, no id collisions', async () => {
    const { code, out } = await chaosCli('device-sim/scenarios/fleet-ci.yaml', 'inherit');
    const res = JSON.parse(out) as CliResult;
    const f = res.gatewayFleet;
    console.log(
      `fleet-ci: ${JSON.stringify(res.report.totals)}\n  ${res.events.map((e) => `${(e.t / 1000).toFixed(1)}s ${e.label}`).join(' · ')}\n` +
        f.gateways
          .map(
            (g) =>
              `  gateway ${g.gateway}: acked ${g.acked}, records ${g.records}, lost ${g.lost}, duplicates ${g.duplicates}, ` +
              `epochs ${g.epochs.length}${g.wipes.map((w) => `, wipe: backlog ${w.backlogAtKill}, lost with the volume ${w.lostWithVolume} of bound ${w.allowed}`).join('')}`,
          )
          .join('\n'),
    );
    expect(f.problems).toEqual([]);
    expect(f.gateways.map((g) => g.problems)).toEqual([[], [], [], [], []]);
    expect(f.ok).toBe(true);
    expect(res.ok).toBe(true);
    expect(code).toBe(0);

    expect(f.gateways).toHaveLength(5);
    expect(new Set(f.gateways.map((g) => g.id)).size).toBe(5);
    expect(f.msgIdCollisions).toBe(0);
    for (const g of f.gateways) {
      expect(g.acked, `gateway ${g.gateway}`).toBeGreaterThan(300);
      expect(g.lost, `gateway ${g.gateway}`).toBe(0);
      expect(g.outOfOrder, `gateway ${g.gateway}`).toBe(0);
      expect(g.foreignId, `gateway ${g.gateway}`).toBe(0);
      // Gateway 2 was killed, not wiped: its store (and epoch) lived on.
      expect(g.epochs, `gateway ${g.gateway}`).toHaveLength(g.gateway === 3 ? 2 : 1);
      expect(g.wipes, `gateway ${g.gateway}`).toHaveLength(g.gateway === 3 ? 1 : 0);
    }
    const [w] = f.gateways[2]?.wipes ?? [];
    expect(w?.backlogAtKill).toBeGreaterThan(0); // the wipe came during the outage, with records not yet in Kafka
    expect(w?.lostWithVolume).toBeLessThanOrEqual(w?.allowed ?? -1);
    expect(w?.epochAfter).not.toBe(w?.epochBefore);
    // Over the whole fleet, only what went with gateway 3's volume is missing.
    expect(res.report.totals.lost).toBe(w?.lostWithVolume);
    expect(res.report.totals.outOfOrder).toBe(0);
  });

  it('the same checks fail a fleet whose gateways all run under one configured id', async () => {
    const file = join(tmpdir(), `fleet-same-id-${process.pid}.yaml`);
    writeFileSync(
      file,
      [
        'name: fleet-same-id',
        'gateways: 3',
        'fleet: { devices: 2, interval: 200, duration: 12, profiles: [vehicle] }',
        'steps:',
        '  - { at: 5, do: gateway-kill, gateway: 2, for: 1 }',
        'verify: { timeout: 10 }',
        '',
      ].join('\n'),
    );
    const { code, out } = await chaosCli(file, 'ignore', ['--same-gateway-id']);
    const res = JSON.parse(out) as CliResult;
    // Nothing is lost, and each store's epoch keeps the msg ids apart: only the id check tells the gateways apart.
    expect(res.report.totals.lost).toBe(0);
    expect(res.gatewayFleet.msgIdCollisions).toBe(0);
    expect(res.gatewayFleet.problems).toEqual(['gateways 1, 2, 3 share the id fleet-gateway']);
    expect(res.ok).toBe(false);
    expect(code).toBe(1);
  });
});
