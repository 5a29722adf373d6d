// The power-cut chaos scenario for CI (device-sim/scenarios/powercut-ci.yaml) through the chaos runner: the real
// gateway keeps its data on the power-cut disk (device-sim/chaos/powercut-fs.py, a FUSE file system that forgets
// every write not yet fsync'd), a fleet publishes QoS 1, and five power cuts hit it, two while it forwards to a Kafka
// of the test's own and three while that Kafka is stopped. In fsync mode the store opens after every cut and nothing
// acknowledged is lost, although the cuts in the outage caught acknowledged records only the disk held. The same
// scenario in os mode loses acknowledged messages at every cut in the outage and fails: the disk really forgets and
// the verify sees it. test/integration/powercut.test.ts is the harness's own, lower-level series (its publishers,
// kcat, the file system's semantics); this one is the scenario as `./gw sim chaos` runs it.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PowerFigures } from '../../device-sim/chaos/power.ts';
import { type ChaosResult, runChaos } from '../../device-sim/chaos/run.ts';
import { loadScenario, type Scenario } from '../../device-sim/chaos/scenario.ts';
import { withDurability } from '../../device-sim/chaos/scenario-load.ts';
import { LocalKafka } from '../harness/kafka.ts';

const fuse = existsSync('/dev/fuse') && process.getuid?.() === 0;
if (!fuse) console.warn('powercut-chaos: needs root and /dev/fuse, skipped');

/** The cuts that fell inside the Kafka outage (after "kafka stop", before "kafka up"). */
function inOutage(r: ChaosResult, p: PowerFigures): PowerFigures['perCut'] {
  const stop = r.events.find((e) => e.label === 'kafka stop')?.t ?? Number.POSITIVE_INFINITY;
  const up = r.events.find((e) => e.label === 'kafka up' && e.t > stop)?.t ?? Number.POSITIVE_INFINITY;
  return p.perCut.filter((c) => c.t > stop && c.t < up);
}

describe.skipIf(!fuse)('power-cut chaos scenario', () => {
  let kafka: LocalKafka | undefined;
  let sc: Scenario;
  const log = (line: string): void => console.log(`powercut-chaos: ${line}`);

  beforeAll(async () => {
    sc = await loadScenario('device-sim/scenarios/powercut-ci.yaml');
    kafka = await LocalKafka.start();
  });
  afterAll(async () => {
    await kafka?.close();
  });

  const run = (s: Scenario): Promise<ChaosResult> => runChaos(s, { kafka, quiet: true, log });

  it('store.durability fsync: the store opens after every cut, no acknowledged message lost', async () => {
    const r = await run(sc);
    const p = r.power;
    log(JSON.stringify({ totals: r.report.totals, power: p }));
    expect(p).toBeDefined();
    if (!p) return;
    expect(p.durability).toBe('fsync');
    expect(p.cuts).toBe(5);
    expect(p.reopened).toBe(5); // the gateway came back with its store after every cut
    expect(r.gatewayStarts).toBe(6);
    expect(p.epochs).toBe(1); // the same store every time, never created afresh
    expect(r.report.totals.expected).toBeGreaterThan(1000);
    // Not vacuous: the cuts in the outage caught acknowledged records that only the disk held.
    const outage = inOutage(r, p);
    expect(outage.length).toBe(3);
    for (const c of outage) {
      expect(c.backlogRecords).toBeGreaterThan(0);
      expect(c.acked).toBeGreaterThan(0);
    }
    expect(r.report.devices.filter((d) => d.lost > 0).map((d) => [d.id, d.lostRanges])).toEqual([]);
    expect(r.report.totals.lost).toBe(0);
    expect(r.report.totals.outOfOrder).toBe(0);
    expect(r.ok).toBe(true);
  });

  it('store.durability os, the same cuts: acknowledged messages are lost and the run fails', async () => {
    const r = await run(withDurability(sc, 'os'));
    const p = r.power;
    log(JSON.stringify({ totals: r.report.totals, power: p }));
    expect(p).toBeDefined();
    if (!p) return;
    expect(p.durability).toBe('os');
    expect(p.cuts).toBe(5);
    expect(p.reopened).toBe(5); // the store still opens: it is the messages that are gone
    expect(r.report.totals.lost).toBeGreaterThan(0);
    expect(p.lost).toBe(r.report.totals.lost);
    const outage = inOutage(r, p);
    expect(outage.length).toBe(3);
    expect(outage.filter((c) => c.lost === 0)).toEqual([]); // every cut in the outage lost acknowledged messages
    expect(r.report.ok).toBe(false);
    expect(r.ok).toBe(false);
  });
});
