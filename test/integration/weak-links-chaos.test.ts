// The weak-links scenario for CI through the CLI (`device-sim chaos --json`): the gateway reaches its own Kafka only
// through Toxiproxy and the devices reach the gateway through it too; latency with jitter and a 64 kbit/s cap on the
// kafka link, resets, the device link sliced small, then a silent blackhole on the kafka link. Nothing acknowledged
// is lost or out of order, records reached Kafka during the slow phases, and /healthz said `stalled` within 30 s.
// Toxic steps without `links: toxiproxy` are refused before anything starts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LinkFigures, linkChecks, linkFigures, type ToxicLog } from '../../device-sim/chaos/link-figures.ts';
import type { CheckResult } from '../../device-sim/chaos/outage.ts';
import { parseScenario } from '../../device-sim/chaos/scenario.ts';
import { chaosCli, scenarioProblems } from '../harness/chaos-cli.ts';

interface CliResult {
  ok: boolean;
  events: { t: number; label: string }[];
  report: { ok: boolean; totals: { expected: number; lost: number; outOfOrder: number } };
  figures: { links?: LinkFigures };
  checks: CheckResult[];
}

describe('weak links chaos scenario (Toxiproxy)', () => {
  it('slow, resetting, sliced and blackholed links: 0 lost, in order, stalled within 30 s, the drain moved', async () => {
    const { code, out } = await chaosCli('device-sim/scenarios/weak-links-ci.yaml');
    const res = JSON.parse(out) as CliResult;
    expect(res.report.totals.expected).toBeGreaterThan(1000);
    expect(res.report.totals.lost).toBe(0);
    expect(res.report.totals.outOfOrder).toBe(0);
    expect(res.report.ok).toBe(true);

    const links = res.figures.links;
    expect(links).toBeDefined();
    if (!links) return;
    expect(links.phases.map((p) => `${p.link} ${p.type}`)).toEqual([
      'kafka latency',
      'kafka bandwidth',
      'kafka reset_peer',
      'devices slicer',
      'kafka timeout',
    ]);
    // Every toxic was removed again, and its marks are on the timeline in the scenario's order.
    expect(links.phases.every((p) => p.toMs !== null)).toBe(true);
    const labels = res.events.map((e) => e.label);
    const added = links.phases.map((p) => labels.indexOf(p.label));
    expect(added.every((i) => i >= 0)).toBe(true);
    expect([...added].sort((a, b) => a - b)).toEqual(added);
    // The drain moved under latency and under the 64 kbit/s cap.
    for (const p of links.phases.filter((x) => x.type === 'latency' || x.type === 'bandwidth')) {
      expect(p.forwarded, p.label).toBeGreaterThan(0);
    }
    // The blackhole: /healthz said `stalled` within 30 s of the toxic, and nothing reached Kafka through it.
    expect(links.stalls).toHaveLength(1);
    const stalled = links.stalls[0]?.stalledAfterSec;
    expect(stalled).not.toBeNull();
    expect(stalled).toBeLessThanOrEqual(30);
    expect(links.phases.find((p) => p.type === 'timeout')?.forwarded).toBe(0);
    expect(labels.some((l) => l.startsWith('kafka link reported stalled'))).toBe(true);

    expect(res.checks.map((c) => [c.name, c.ok])).toEqual([
      ['disk_within_budget', true],
      ['stall_within_s', true],
      ['drain_moves_on_slow_links', true],
    ]);
    expect(res.ok).toBe(true);
    expect(code).toBe(0);
  });

  it('refuses toxic steps without links: toxiproxy before anything starts, one line per key', async () => {
    const text =
      'fleet: { duration: 30 }\nsteps:\n' +
      '  - { at: 1, do: toxic, link: kafka, type: latency, kbit: 64 }\n' +
      '  - { at: 2, do: toxic-clear }\n';
    expect(scenarioProblems(text)).toEqual([
      'steps[0].do: toxic needs links: toxiproxy',
      'steps[0].ms: expected a number >= 0 (required)',
      'steps[0].kbit: not read by a latency toxic (it reads ms, jitter)',
      'steps[1].do: toxic-clear needs links: toxiproxy',
      'steps[1].link: devices or kafka (required)',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'weak-links-bad-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, text);
    const { code, out, err } = await chaosCli(file);
    rmSync(dir, { recursive: true, force: true });
    expect(code).not.toBe(0);
    expect(out).toBe('');
    expect(err).toContain('steps[0].do: toxic needs links: toxiproxy');
    expect(err).not.toContain('kafka 127.0.0.1');
  });

  it('the link checks fail on a late or missing stall and on a slow phase that moved nothing', () => {
    const t0 = 1_000_000;
    const phase = (type: 'latency' | 'bandwidth' | 'timeout', from: number, n: number | null) => ({
      label: type,
      link: 'kafka' as const,
      type,
      from: t0 + from,
      to: t0 + from + 8000,
      forwardedFrom: n === null ? null : 100,
      forwardedTo: n === null ? null : 100 + n,
      countedFrom: t0 + from + 1000,
    });
    const log = (stalledAfterMs: number | null, slow: number | null): ToxicLog => ({
      first: { at: t0 + 5000, forwarded: 200 },
      phases: [phase('latency', 5000, 70), phase('bandwidth', 15_000, slow), phase('timeout', 30_000, 0)],
      stalls: [{ from: t0 + 30_000, stalledAt: stalledAfterMs === null ? null : t0 + 30_000 + stalledAfterMs }],
    });
    const checks = { stall_within_s: 30, drain_moves_on_slow_links: true };
    const okOf = (l: ToxicLog) => linkChecks(checks, linkFigures(l, t0)).map((c) => c.ok);
    expect(okOf(log(10_100, 50))).toEqual([true, true]);
    expect(okOf(log(30_100, 50))).toEqual([false, true]);
    expect(okOf(log(null, 50))).toEqual([false, true]);
    expect(okOf(log(10_100, 0))).toEqual([true, false]);
    expect(okOf(log(10_100, null))).toEqual([true, false]);
    expect(linkChecks(checks, undefined).map((c) => c.ok)).toEqual([false, false]);
    const f = linkFigures(log(10_100, 50), t0);
    expect(f.before).toEqual({ sec: 5, forwarded: 200, perSec: 40 });
    expect(f.phases[0]).toMatchObject({ fromMs: 5000, toMs: 13_000, forwarded: 70, perSec: 10 });
    expect(f.stalls).toEqual([{ fromMs: 30_000, stalledAfterSec: 10.1 }]);
  });

  it('checks the keys of each toxic type and the links it needs', () => {
    expect(
      scenarioProblems(
        'links: toxiproxy\nnetwork: namespace\nkafka: { brokers: [127.0.0.1:1] }\nsteps:\n' +
          '  - { at: 1, do: toxic, link: kafka, type: timeout }\n' +
          '  - { at: 2, do: toxic, link: devices, type: slicer, bytes: 4, variation: 4 }\n' +
          '  - { at: 3, do: toxic, link: devices, type: wobble }\n' +
          '  - { at: 4, do: blackhole, stream: upstream }\n',
      ),
    ).toEqual([
      'links: toxiproxy needs network: relay (Toxiproxy listens on the host loopback)',
      'steps[0].link: the kafka link needs kafka: local',
      'steps[1].variation: must be smaller than bytes (4)',
      'steps[2].type: latency|bandwidth|timeout|reset_peer|slicer',
      'steps[3].stream: only with do: toxic',
    ]);
    const sc = parseScenario(
      'links: toxiproxy\nsteps:\n  - { at: 1, do: toxic, link: kafka, type: bandwidth, kbit: 64, for: 5 }\n',
    );
    expect(sc.steps).toEqual([
      { at: 1, do: 'toxic', for: 5, link: 'kafka', type: 'bandwidth', stream: 'both', kbit: 64 },
    ]);
  });
});
