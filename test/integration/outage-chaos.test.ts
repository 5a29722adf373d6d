// The outage scenario for CI through the CLI (`device-sim chaos --json`): a real gateway and a Kafka of its own that
// is stopped for ~20 s while 40 devices publish. Nothing acknowledged is lost, the gateway's gauges were sampled, the
// store stayed within its budget, the backlog rose during the outage and fell back to 0, /healthz gave no drain ETA
// while Kafka was down, and the ETA points of the drain were measured. The ETA's accuracy and the latencies are
// figures, not asserted (a shared machine is noisy).
import { describe, expect, it } from 'vitest';
import type { Gauges } from '../../device-sim/chaos/gauges.ts';
import { GaugeSeries } from '../../device-sim/chaos/gauges.ts';
import type { CheckResult, RunFigures } from '../../device-sim/chaos/outage.ts';
import { parseScenario, ScenarioError } from '../../device-sim/chaos/scenario.ts';
import { chaosCli } from '../harness/chaos-cli.ts';

interface CliResult {
  ok: boolean;
  events: { t: number; label: string }[];
  report: { ok: boolean; totals: { expected: number; lost: number; outOfOrder: number } };
  figures: RunFigures;
  checks: CheckResult[];
  gauges: Gauges;
}

/** The gauge's values at points with t in [from, to] (ms), the unreadable ones left out. */
function during(g: Gauges, key: keyof Gauges['series'], from: number, to: number): number[] {
  return g.t.flatMap((t, i) => {
    const v = g.series[key][i];
    return t >= from && t <= to && v !== null && v !== undefined ? [v] : [];
  });
}

describe('outage chaos scenario', () => {
  it('a Kafka outage under load: 0 lost, gauges sampled, within budget, the backlog rises and drains', async () => {
    const { code, out } = await chaosCli('device-sim/scenarios/outage-ci.yaml', 'ignore');
    const res = JSON.parse(out) as CliResult;
    expect(res.report.totals.expected).toBeGreaterThan(2000);
    expect(res.report.totals.lost).toBe(0);
    expect(res.report.totals.outOfOrder).toBe(0);
    expect(code).toBe(0);
    expect(res.ok).toBe(true);

    const g = res.gauges;
    expect(g.t.length).toBeGreaterThan(30);
    for (const k of ['rssBytes', 'diskBytes', 'budgetBytes', 'backlogRecords', 'outRate'] as const) {
      expect(during(g, k, 0, Number.POSITIVE_INFINITY).length, k).toBeGreaterThan(20);
    }
    const f = res.figures;
    expect(f.peakDiskBytes).toBeGreaterThan(0);
    expect(f.peakDiskBytes).toBeLessThanOrEqual(f.budgetBytes ?? 0);
    expect(res.checks).toEqual([expect.objectContaining({ name: 'disk_within_budget', ok: true })]);
    expect(f.rss.peak).toBeGreaterThanOrEqual(f.rss.first ?? Number.POSITIVE_INFINITY);

    const o = f.outage;
    expect(o).not.toBeNull();
    if (!o) return;
    const before = Math.max(0, ...during(g, 'backlogRecords', 0, o.stopAt));
    const inOutage = Math.max(...during(g, 'backlogRecords', o.stopAt, o.upAt));
    expect(inOutage).toBeGreaterThan(Math.max(1000, before * 10));
    expect(o.drainEndAt).not.toBeNull();
    expect(g.series.backlogRecords.at(-1)).toBe(0);
    // The drain ETA is backlog / (out − in) since the link came back: none while Kafka is down (the points where
    // the backlog has grown far past its level before), and the figures hold an ETA point for 25, 50 and 75 % of
    // the drain (its value is a figure: this drain lasts about a second, shorter than the ETA needs to measure).
    const grown = Math.max(1000, before * 10);
    const whileDown = g.t.flatMap((t, i) =>
      t >= o.stopAt && t <= o.upAt && (g.series.backlogRecords[i] ?? 0) > grown ? [g.series.drainEtaSec[i]] : [],
    );
    expect(whileDown.length).toBeGreaterThan(0);
    expect(whileDown.every((e) => e === null)).toBe(true);
    expect(o.eta.map((e) => e.pct)).toEqual([25, 50, 75]);
    for (const e of o.eta) if (e.etaSec !== null) expect(e.etaToLevelSec).not.toBeNull();
  });

  it('checks refuse an unknown key by name', () => {
    const text = 'fleet: { duration: 30 }\nchecks: { disk_within_budget: true, drain_eta_pct: 20 }\n';
    expect(() => parseScenario(text)).toThrow(ScenarioError);
    try {
      parseScenario(text);
    } catch (err) {
      expect((err as ScenarioError).problems).toEqual(['checks.drain_eta_pct: unknown key']);
    }
  });

  it('a long run keeps at most maxPoints per series, peaks kept', () => {
    const s = new GaugeSeries(100);
    const none = { diskBytes: null, backlogBytes: null, budgetBytes: null, inRate: null, outRate: null };
    for (let i = 0; i < 10_000; i++) {
      s.push(i * 1000, {
        ...none,
        rssBytes: i === 4321 ? 999 : 1,
        anonBytes: i === 1234 ? 500 : 1,
        backlogRecords: i,
        drainEtaSec: i,
      });
    }
    s.flush();
    const g = s.gauges;
    expect(g.t.length).toBeLessThanOrEqual(100);
    expect(g.t.length).toBeGreaterThan(40);
    expect(Math.max(...g.series.rssBytes.map((v) => v ?? 0))).toBe(999);
    expect(Math.max(...g.series.anonBytes.map((v) => v ?? 0))).toBe(500);
    expect(g.anon).toEqual({ first: 1, peak: 500, last: 1 });
    expect(g.series.backlogRecords.at(-1)).toBe(9999);
    expect(g.rss).toEqual({ first: 1, peak: 999, last: 1 });
  });
});
