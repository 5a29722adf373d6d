// A fleet of gateways (`gateways: N`): the scenario keys (what the steps need, one line per problem) and the fleet
// figures on fixed inputs. Each check of the figures is shown to catch its fault: a lost record of a gateway that was
// not wiped, a loss after the restart on the empty volume, more lost with the volume than its bound, a record under
// another gateway's id, two messages under one gateway.msg_id, two gateways with one id, a wipe without a new epoch.
import { describe, expect, it } from 'vitest';
import type { ObservedRecord } from '../../device-sim/analyze.ts';
import { type GatewayInput, gatewayFleetFigures, type WipeRecord } from '../../device-sim/chaos/fleet-figures.ts';
import { loadScenario, parseScenario } from '../../device-sim/chaos/scenario.ts';
import { LEDGER_VERSION, type Ledger } from '../../device-sim/ledger.ts';
import type { Range } from '../../device-sim/ranges.ts';
import { scenarioProblems } from '../harness/chaos-cli.ts';

describe('fleet of gateways: scenario keys', () => {
  it('parses the CI scenario: five gateways, the wipe and the kill each on its gateway', async () => {
    const sc = await loadScenario('device-sim/scenarios/fleet-ci.yaml');
    expect(sc.gateways).toBe(5);
    expect(sc.steps).toContainEqual({ at: 14, do: 'volume-wipe', gateway: 3, for: 1 });
    expect(sc.steps).toContainEqual({ at: 30, do: 'gateway-kill', gateway: 2, for: 1 });
    const long = await loadScenario('device-sim/scenarios/fleet-long.yaml');
    expect(long.gateways).toBe(5);
  });

  it('refuses what a fleet cannot run and steps without their gateway, one line each', () => {
    expect(
      scenarioProblems(`
gateways: 3
network: namespace
disk: { size_mb: 64 }
fleet: { duration: 30 }
steps:
  - { at: 1, do: volume-wipe }
  - { at: 2, do: gateway-kill, gateway: 4 }
  - { at: 3, do: blackhole, for: 1 }
  - { at: 4, do: kafka-stop, gateway: 1 }
  - { at: 5, do: gateway-start, gateway: 2 }
`),
    ).toEqual([
      'disk: not with gateways (each gateway has a data dir of its own)',
      'network: namespace is for one gateway, not with gateways',
      'steps[0].gateway: a gateway 1-3 (required)',
      'steps[1].gateway: there are 3 gateways',
      'steps[2].do: blackhole is not run on a fleet of gateways; one of gateway-kill|gateway-stop|gateway-start|volume-wipe|kafka-stop|kafka-start|kafka-kill',
      'steps[3].gateway: only for gateway-kill|gateway-stop|gateway-start|volume-wipe',
    ]);
    expect(scenarioProblems('gateways: 1\n')).toEqual(['gateways: a whole number 2-10']);
    expect(scenarioProblems('gateways: 2\nlinks: toxiproxy\n')).toEqual([
      'links: toxiproxy is for one gateway, not with gateways',
    ]);
    expect(scenarioProblems('gateways: 2\nkafka: { cluster: 3 }\n')).toEqual([
      'kafka: { cluster: 3 } is not with gateways',
    ]);
    expect(
      scenarioProblems(
        'fleet: { duration: 9 }\nsteps:\n  - { at: 1, do: volume-wipe }\n  - { at: 2, do: gateway-kill, gateway: 1 }\n',
      ),
    ).toEqual(['steps[0].do: volume-wipe needs gateways: N', 'steps[1].gateway: only with gateways: N']);
    expect(parseScenario('gateways: 2\nsteps:\n  - { at: 1, do: gateway-stop, gateway: 2 }\n').steps).toEqual([
      { at: 1, do: 'gateway-stop', gateway: 2 },
    ]);
  });
});

const RUN = 'run1';
const acked = (n: number): Range[] => [[0, n - 1]];

/** Two gateways, two devices each, 10 messages acknowledged per device; gateway 2 wiped once. */
function fixture() {
  const devices = ['g1-a', 'g1-b', 'g2-a', 'g2-b'];
  const ledger: Ledger = {
    version: LEDGER_VERSION,
    runId: RUN,
    command: 'fleet',
    url: '',
    startedAt: 0,
    endedAt: 1,
    devices: Object.fromEntries(
      devices.map((id) => [
        id,
        { id, topics: [], qos: 1 as const, sent: 10, acked: acked(10), connects: 1, disconnects: 0 },
      ]),
    ),
  };
  // Gateway 2: 4 of each device acknowledged when its backlog (3) was read, 5 at the restart; seqs 3 and 4 of g2-a
  // never reached Kafka (lost with the volume: 2 <= 3 + (10 - 8)).
  const wipe: WipeRecord = {
    at: 5000,
    backlogAtKill: 3,
    ackedAtRead: { 'g2-a': acked(4), 'g2-b': acked(4) },
    ackedAtRestart: { 'g2-a': acked(5), 'g2-b': acked(5) },
    epochBefore: 'e1',
    epochAfter: 'e2',
  };
  const gateways: GatewayInput[] = [
    { n: 1, id: 'gw-one', devices: ['g1-a', 'g1-b'], wipes: [] },
    { n: 2, id: 'gw-two', devices: ['g2-a', 'g2-b'], wipes: [wipe] },
  ];
  const records: ObservedRecord[] = [];
  let offset = 0;
  for (const device of devices) {
    const gw = device.startsWith('g1') ? 'gw-one' : 'gw-two';
    for (let seq = 0; seq < 10; seq++) {
      if (device === 'g2-a' && (seq === 3 || seq === 4)) continue;
      const epoch = gw === 'gw-two' && seq >= 5 ? 'e2' : 'e1';
      records.push({
        device,
        seq,
        run: RUN,
        topic: 't',
        partition: 0,
        offset,
        timestamp: 0,
        consumedAt: 0,
        msgId: `${gw}-${epoch}-${offset}`,
        gatewayId: gw,
      });
      offset++;
    }
  }
  return { ledger, gateways, records, wipe };
}

describe('fleet of gateways: figures', () => {
  it('counts what went with the wiped volume apart, within its bound, and nothing else lost', () => {
    const { ledger, gateways, records } = fixture();
    const f = gatewayFleetFigures(ledger, records, gateways);
    expect(f.problems).toEqual([]);
    expect(f.gateways.map((g) => g.problems)).toEqual([[], []]);
    expect(f.ok).toBe(true);
    const [g1, g2] = f.gateways;
    expect(g1).toMatchObject({ acked: 20, records: 20, lost: 0, foreignId: 0, epochs: ['e1'] });
    expect(g2).toMatchObject({ acked: 20, records: 18, lost: 0, epochs: ['e1', 'e2'] });
    expect(g2?.wipes).toEqual([expect.objectContaining({ lostWithVolume: 2, allowed: 5, backlogAtKill: 3 })]);
  });

  it('a record missing from a gateway that was not wiped is lost', () => {
    const { ledger, gateways, records } = fixture();
    const i = records.findIndex((r) => r.device === 'g1-b' && r.seq === 7);
    records.splice(i, 1);
    const f = gatewayFleetFigures(ledger, records, gateways);
    expect(f.ok).toBe(false);
    expect(f.gateways[0]).toMatchObject({ lost: 1, problems: ['g1-b: 1 acknowledged not in Kafka (7)'] });
  });

  it('on the wiped gateway, a message acknowledged after the restart and missing is lost', () => {
    const { ledger, gateways, records } = fixture();
    records.splice(
      records.findIndex((r) => r.device === 'g2-b' && r.seq === 8),
      1,
    );
    const f = gatewayFleetFigures(ledger, records, gateways);
    expect(f.ok).toBe(false);
    expect(f.gateways[1]).toMatchObject({ lost: 1, problems: ['g2-b: 1 acknowledged not in Kafka (8)'] });
    expect(f.gateways[1]?.wipes[0]?.lostWithVolume).toBe(2);
  });

  it('more lost with the volume than the backlog at the kill allows fails', () => {
    const { ledger, gateways, records, wipe } = fixture();
    wipe.backlogAtKill = 0;
    wipe.ackedAtRead = wipe.ackedAtRestart;
    const f = gatewayFleetFigures(ledger, records, gateways);
    expect(f.ok).toBe(false);
    expect(f.gateways[1]?.problems).toEqual(['wipe 1: 2 lost with the volume, more than the bound 0']);
    wipe.backlogAtKill = null;
    expect(gatewayFleetFigures(ledger, records, gateways).gateways[1]?.problems).toEqual([
      'wipe 1: the backlog at the kill was not readable, no bound',
    ]);
  });

  it('a wipe whose gateway kept its epoch fails', () => {
    const { ledger, gateways, records, wipe } = fixture();
    wipe.epochAfter = 'e1';
    expect(gatewayFleetFigures(ledger, records, gateways).gateways[1]?.problems).toEqual([
      'wipe 1: the empty volume did not give a new epoch (e1 -> e1)',
    ]);
  });

  it("a record under another gateway's id, two messages under one msg_id, two gateways with one id: each fails", () => {
    const a = fixture();
    const r = a.records.find((x) => x.device === 'g1-a' && x.seq === 2) as ObservedRecord;
    r.gatewayId = 'gw-two';
    const fa = gatewayFleetFigures(a.ledger, a.records, a.gateways);
    expect(fa.ok).toBe(false);
    expect(fa.gateways[0]).toMatchObject({ foreignId: 1, problems: ['1 records under another gateway id (gw-two)'] });

    const b = fixture();
    const other = b.records.find((x) => x.device === 'g2-b' && x.seq === 0) as ObservedRecord;
    const copy = { ...(b.records[0] as ObservedRecord), offset: 999 }; // a copy of one message: not a collision
    b.records.push(copy);
    other.msgId = (b.records[0] as ObservedRecord).msgId;
    const fb = gatewayFleetFigures(b.ledger, b.records, b.gateways);
    expect(fb.msgIdCollisions).toBe(1);
    expect(fb.ok).toBe(false);
    expect(fb.gateways[0]?.duplicates).toBe(1);

    const c = fixture();
    (c.gateways[1] as GatewayInput).id = 'gw-one';
    const fc = gatewayFleetFigures(c.ledger, c.records, c.gateways);
    expect(fc.problems).toEqual(['gateways 1, 2 share the id gw-one']);
    expect(fc.ok).toBe(false);
  });
});
