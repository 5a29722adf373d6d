// The Kafka cluster failover scenario for CI (device-sim/scenarios/failover-ci.yaml) through the CLI (`device-sim
// chaos --json`): a 3-broker KRaft cluster of its own, the uplink topic replicated 3 times with min.insync.replicas 2,
// 20 devices publishing QoS 1. The leader of the busiest partition is SIGKILLed, then the new leader, so a partition
// has one replica in sync; both come back. Nothing acknowledged may be lost, each device stays in order, /healthz
// showed the link not up while the ISR was short and named Kafka's refusal (NOT_ENOUGH_REPLICAS), and the backlog
// drained once the brokers were back. Duplicates are a figure (at least once), printed, not asserted.
import { describe, expect, it } from 'vitest';
import { type FailoverFigures, linkDuring } from '../../device-sim/chaos/failover-figures.ts';
import type { Gauges } from '../../device-sim/chaos/gauges.ts';
import { chaosCli, scenarioProblems } from '../harness/chaos-cli.ts';

interface CliResult {
  ok: boolean;
  events: { t: number; label: string }[];
  report: { ok: boolean; totals: { expected: number; found: number; lost: number; outOfOrder: number } };
  failover: FailoverFigures;
  gauges: Gauges;
}

describe('failover chaos scenario', () => {
  it('leader loss, then the ISR below min.insync.replicas: 0 lost, in order, the refusal on /healthz, drained', async () => {
    const { code, out } = await chaosCli('device-sim/scenarios/failover-ci.yaml', 'inherit');
    const res = JSON.parse(out) as CliResult;
    const f = res.failover;
    console.log(
      `failover-ci: ${JSON.stringify(res.report.totals)}\n  ${res.events.map((e) => `${(e.t / 1000).toFixed(1)}s ${e.label}`).join(' · ')}\n` +
        `  ${JSON.stringify({ brokers: f.brokers.map(({ reasons: _, reason: __, ...b }) => b), isrShort: f.isrShort, duplicates: f.duplicates })}`,
    );
    expect(res.report.totals.expected).toBeGreaterThan(5000);
    expect(res.report.totals.found).toBe(res.report.totals.expected);
    expect(res.report.totals.lost).toBe(0);
    expect(res.report.totals.outOfOrder).toBe(0);
    expect(res.report.ok).toBe(true);
    expect(res.ok).toBe(true);
    expect(code).toBe(0);

    // Two broker kills, each of a partition's leader; both brokers started again.
    expect(f.brokers.map((b) => b.label)).toEqual([
      expect.stringMatching(/^broker [1-3] SIGKILL \(leader of p\d\)$/),
      expect.stringMatching(/^broker [1-3] SIGKILL \(leader of p\d\)$/),
    ]);
    expect(new Set(f.brokers.map((b) => b.label.split(' ')[1])).size).toBe(2);
    expect(res.events.some((e) => /^broker [1-3],[1-3] up$/.test(e.label))).toBe(true);

    // The second kill left a partition with one replica in sync; meanwhile /healthz showed the link not up and named
    // Kafka's refusal.
    const second = f.brokers[1]!;
    expect(second.isrShortAt).not.toBeNull();
    expect(f.isrShort.length).toBeGreaterThan(0);
    expect(f.problemWhileIsrShort).toBe(true);
    const w = f.isrShort[0]!;
    expect(linkDuring(f.link, w).some((p) => p.link !== 'up')).toBe(true);
    expect(second.notEnoughReplicasAt).not.toBeNull();
    expect(second.notEnoughReplicasAt!).toBeGreaterThanOrEqual(w.from);

    // Brokers back: the link up again, the drain resumed and reached the level before, the backlog 0 at the end.
    expect(second.linkUpAt).not.toBeNull();
    expect(second.linkUpAt!).toBeGreaterThan(second.notEnoughReplicasAt!);
    expect(second.drainResumedAt).not.toBeNull();
    expect(second.drainedAt).not.toBeNull();
    expect(res.gauges.series.backlogRecords.at(-1)).toBe(0);
  }, 240_000);

  it('refuses broker-* steps without a cluster, and targets their actions do not take, before anything starts', () => {
    expect(scenarioProblems('kafka: local\nsteps: [{ at: 1, do: broker-kill, broker: leader }]\n')).toEqual([
      'steps[0].do: broker-kill needs kafka: { cluster: 3 }',
    ]);
    expect(
      scenarioProblems(
        'kafka: { cluster: 3 }\nsteps:\n  - { at: 1, do: broker-stop }\n  - { at: 2, do: broker-kill, broker: all }\n' +
          '  - { at: 3, do: broker-start, broker: leader }\n  - { at: 4, do: broker-kill, broker: 4 }\n',
      ),
    ).toEqual([
      'steps[0].broker: leader or a node id 1-3 (required)',
      'steps[1].broker: broker-kill takes leader or a node id 1-3',
      'steps[2].broker: broker-start takes a node id 1-3 or all',
      'steps[3].broker: leader, all or a node id 1-3',
    ]);
    expect(scenarioProblems('kafka: { cluster: 5 }\n')).toEqual([
      'kafka: "local", { brokers: [host:port, …] } or { cluster: 3 }',
    ]);
    expect(scenarioProblems('kafka: { cluster: 3 }\nsteps: [{ at: 1, do: broker-start, broker: all }]\n')).toEqual([]);
  });
});
