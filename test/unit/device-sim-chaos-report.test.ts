// The chaos run's report: the per-toxic chart of a weak-links run (records per second to Kafka in each toxic phase
// against the clean start), the drain ETA against the time actually left after an outage, and the outage figures
// printed only for a real Kafka outage (not the Kafka stop of a power-cut run).
import { describe, expect, it } from 'vitest';
import { GaugeSeries, type GaugeValues, processMemory } from '../../device-sim/chaos/gauges.ts';
import { linkFigures, type ToxicLog } from '../../device-sim/chaos/link-figures.ts';
import { runFigures } from '../../device-sim/chaos/outage.ts';
import { renderHtml } from '../../device-sim/report-html.ts';
import { formatFigures } from '../../device-sim/report-text.ts';

const T0 = 1_000_000;
const none: GaugeValues = {
  rssBytes: 50 * 2 ** 20,
  anonBytes: 40 * 2 ** 20,
  diskBytes: 2 ** 20,
  backlogBytes: null,
  budgetBytes: 64 * 2 ** 20,
  backlogRecords: null,
  inRate: null,
  outRate: null,
  drainEtaSec: null,
};

/** Kafka away from 10 s to 30 s: the backlog grows 100/s from its level 10, then drains 500/s back to 10. The ETA
 * /healthz gives is backlog / 500 once the link is up. */
function outageGauges(): GaugeSeries {
  const s = new GaugeSeries();
  let backlog = 10;
  for (let sec = 0; sec <= 45; sec++) {
    if (sec > 10 && sec <= 30) backlog += 100;
    if (sec > 30) backlog = Math.max(10, backlog - 500);
    const up = sec <= 10 || sec > 30;
    s.push(sec * 1000, { ...none, backlogRecords: backlog, drainEtaSec: up ? backlog / 500 : null });
  }
  s.flush();
  return s;
}

const outageEvents = [
  { t: 10_000, label: 'kafka stop' },
  { t: 29_000, label: 'kafka start' },
  { t: 30_000, label: 'kafka up' },
];

/** The `d` of the SVG path drawn for the legend entry `name`: its points as [x, y]. */
function pathOf(svg: string, name: string): [number, number][] {
  const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1] ?? '');
  const legends = [...svg.matchAll(/<rect x="[^"]*" y="10"[^>]*\/><text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  const d = paths[legends.indexOf(name)] ?? '';
  return [...d.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

describe('chaos report', () => {
  it('a weak-links run: one bar per toxic phase with its records per second, and the clean start as the reference', () => {
    const phase = (type: 'latency' | 'bandwidth' | 'timeout', from: number, n: number | null) => ({
      label: `kafka link: ${type}`,
      link: 'kafka' as const,
      type,
      from: T0 + from,
      to: T0 + from + 8000,
      forwardedFrom: n === null ? null : 300,
      forwardedTo: n === null ? null : 300 + n,
      countedFrom: T0 + from + 1000,
    });
    const log: ToxicLog = {
      first: { at: T0 + 5000, forwarded: 200 },
      phases: [phase('latency', 5000, 70), phase('bandwidth', 15_000, null), phase('timeout', 30_000, 0)],
      stalls: [{ from: T0 + 30_000, stalledAt: T0 + 40_100 }],
    };
    const links = linkFigures(log, T0);
    const figures = { ...runFigures({ gauges: outageGauges().gauges, events: [], started: T0 }), links };
    const html = renderHtml({ title: 'weak', samples: [], figures });

    const chart = /<svg[^>]*>(?:(?!<\/svg>).)*Records to Kafka per toxic phase.*?<\/svg>/s.exec(html)?.[0] ?? '';
    expect(chart).not.toBe('');
    const bars = [...chart.matchAll(/<g class="bar" data-value="([^"]*)"><title>([^<]*)<\/title>/g)];
    const expected = [links.before?.perSec, ...links.phases.map((p) => p.perSec)].map((v) => String(v ?? '?'));
    expect(bars.map((b) => b[1])).toEqual(expected);
    expect(bars[3]?.[2]).toContain('stalled after 10.1 s');
    // Bar lengths follow the values; the unmeasured phase has none.
    const widths = [...chart.matchAll(/<rect x="[^"]*" y="[^"]*" width="([^"]*)"/g)].map((m) => Number(m[1]));
    expect(widths[0]! / widths[1]!).toBeCloseTo(links.before!.perSec! / links.phases[0]!.perSec!, 1);
    expect(widths[2]).toBe(0);
    expect(chart).toContain(`clean ${links.before?.perSec}/s`);
    // The figures table has the phases too.
    expect(html).toContain(`<th>toxic kafka link: latency 5.0s–13.0s</th><td>70 records to Kafka (10/s)</td>`);
  });

  it('after an outage the drain ETA chart holds the ETA to the level before and the time actually left', () => {
    const gauges = outageGauges().gauges;
    const figures = runFigures({ gauges, events: outageEvents, started: T0 });
    const o = figures.outage;
    expect(o?.drainEndAt).not.toBeNull();
    const html = renderHtml({ title: 'outage', samples: [], gauges, figures, marks: outageEvents });
    const chart = /<svg[^>]*>(?:(?!<\/svg>).)*Drain ETA \(\/healthz\) vs the time actually left.*?<\/svg>/s.exec(
      html,
    )?.[0];
    expect(chart).toBeDefined();
    const inDrain = gauges.t.flatMap((t, i) => (t >= o!.upAt && t <= o!.drainEndAt! ? [i] : []));
    const withEta = inDrain.filter((i) => gauges.series.drainEtaSec[i] !== null);
    const actual = pathOf(chart!, 'actual left');
    const toLevel = pathOf(chart!, 'ETA to level');
    expect(actual).toHaveLength(inDrain.length);
    expect(toLevel).toHaveLength(withEta.length);
    expect(withEta.length).toBeGreaterThan(2);
    // The ETA here is exact (a steady drain), so the two curves coincide (to the 0.1 px of the path).
    const actualAt = new Map(actual);
    for (const [x, y] of toLevel) {
      expect(actualAt.has(x)).toBe(true);
      expect(Math.abs(actualAt.get(x)! - y)).toBeLessThan(0.3);
    }
    // The time left falls to 0 at the drain's end (the lowest point is the largest y).
    expect(actual.at(-1)![1]).toBeGreaterThan(actual[0]![1]);
  });

  it('outage figures only for a Kafka outage: none when the power was cut during the Kafka stop', () => {
    const gauges = outageGauges().gauges;
    const plain = runFigures({ gauges, events: outageEvents, started: T0 });
    expect(plain.outage?.outageSec).toBe(20);
    expect(formatFigures(plain)).toMatch(/^outage 20\.0 s: /m);
    expect(renderHtml({ title: 'o', samples: [], gauges, figures: plain })).toContain('<th>outage</th>');

    const cuts = [...outageEvents, { t: 15_000, label: 'power cut (backlog 510)' }].sort((a, b) => a.t - b.t);
    const cut = runFigures({ gauges, events: cuts, started: T0 });
    expect(cut.outage).toBeNull();
    const text = formatFigures(cut);
    expect(text).not.toMatch(/outage|ETA|drain/);
    expect(text).toContain(`peak backlog ${plain.peakBacklogRecords} records`);
    const html = renderHtml({ title: 'p', samples: [], gauges, figures: cut });
    expect(html).not.toContain('<th>outage</th>');
    expect(html).toContain('>Drain ETA given by /healthz (s)</text>');

    // A power cut outside the Kafka stop (while forwarding) leaves the outage's figures.
    const before = [{ t: 3000, label: 'power cut (backlog 2)' }, ...outageEvents];
    expect(runFigures({ gauges, events: before, started: T0 }).outage).toEqual(plain.outage);
  });
});

describe('gateway memory gauges', () => {
  it("reads a process's RSS and its anonymous part from /proc, none for a process that is gone", async () => {
    const m = await processMemory(process.pid);
    expect(m.anon).toBeGreaterThan(0);
    expect(m.rss).toBeGreaterThanOrEqual(m.anon ?? Number.POSITIVE_INFINITY);
    expect(await processMemory(undefined)).toEqual({ rss: null, anon: null });
    expect(await processMemory(2 ** 22 + 1)).toEqual({ rss: null, anon: null });
  });

  it('the figures give the anonymous RSS beside the RSS', () => {
    const s = new GaugeSeries();
    s.push(0, { ...none });
    s.push(1000, { ...none, rssBytes: 90 * 2 ** 20, anonBytes: 45 * 2 ** 20 });
    s.flush();
    const f = runFigures({ gauges: s.gauges, events: [], started: T0 });
    expect(f.anon).toEqual({ first: 40 * 2 ** 20, peak: 45 * 2 ** 20, last: 45 * 2 ** 20 });
    expect(formatFigures(f)).toContain(
      'RSS first 50.0 MB peak 90.0 MB last 90.0 MB (anonymous first 40.0 MB peak 45.0 MB last 45.0 MB)',
    );
  });
});
