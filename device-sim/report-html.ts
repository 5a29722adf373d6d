// A self-contained HTML report (inline SVG, no external assets): rate, backlog, connections and latency over time,
// the gateway's gauges in chaos runs (RSS, disk vs budget, backlog, rates, the drain ETA against the time actually
// left), the records per second that reached Kafka in each toxic phase against the clean start, plus the verify
// result and the outage figures when there are.
import type { VerifyReport } from './analyze.ts';
import type { GaugeKey, Gauges } from './chaos/gauges.ts';
import { type LinkFigures, linkRows } from './chaos/link-figures.ts';
import type { CheckResult, OutageFigures, RunFigures } from './chaos/outage.ts';
import { type Ledger, ledgerTotals } from './ledger.ts';
import type { ProgressSample } from './progress.ts';

export interface HtmlInput {
  title: string;
  ledger?: Ledger;
  samples: ProgressSample[];
  stats?: object;
  verify?: VerifyReport;
  /** Timed events to mark on the charts (chaos steps), in ms since the run started. */
  marks?: { t: number; label: string }[];
  /** The gateway's gauges over time (chaos runs sample its /healthz and its process). */
  gauges?: Gauges;
  figures?: RunFigures;
  /** More figures, one table each (label → text). */
  tables?: { title: string; rows: Record<string, string> }[];
  checks?: CheckResult[];
}

interface Series {
  name: string;
  color: string;
  values: (number | undefined)[];
}

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v) ?? v;
}

/** One line chart: x = seconds since start, y from 0 to a rounded max. */
export function lineChart(
  title: string,
  unit: string,
  xs: number[],
  series: Series[],
  marks: HtmlInput['marks'] = [],
): string {
  const W = 760;
  const H = 220;
  const L = 56;
  const B = 28;
  const T = 26;
  const R = 12;
  const xMax = Math.max(1, ...xs);
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== undefined))));
  const x = (t: number): number => L + ((W - L - R) * t) / xMax;
  const y = (v: number): number => H - B - ((H - B - T) * v) / yMax;
  const parts: string[] = [];
  parts.push(`<text x="${L}" y="16" class="t">${esc(title)}${unit ? ` (${esc(unit)})` : ''}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" class="g"/>`);
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" class="a" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const t = (xMax * i) / 5;
    parts.push(`<text x="${x(t)}" y="${H - 8}" class="a" text-anchor="middle">${Math.round(t)} s</text>`);
  }
  // Fault labels are staggered over three rows so close events stay readable.
  marks.forEach((m, i) => {
    const mx = x(m.t / 1000);
    parts.push(`<line x1="${mx}" x2="${mx}" y1="${T}" y2="${H - B}" class="m"/>`);
    parts.push(`<text x="${mx + 3}" y="${T + 10 + (i % 3) * 11}" class="a">${esc(m.label)}</text>`);
  });
  series.forEach((s, k) => {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(xs[i]!).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    // Legend in the title row, right-aligned, so it never covers the plot.
    const lx = W - R - (series.length - k) * 90;
    parts.push(`<rect x="${lx}" y="10" width="10" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 14}" y="15" class="a">${esc(s.name)}</text>`);
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${parts.join('')}</svg>`;
}

interface Bar {
  label: string;
  /** null: not measured (drawn as "?"). */
  value: number | null;
  /** Shown after the value and in the bar's tooltip. */
  note: string;
  color: string;
}

/** Horizontal bars, one row each, from 0 to a rounded max, with a dashed reference line (e.g. the clean link). */
export function barChart(title: string, unit: string, bars: Bar[], ref?: { label: string; value: number }): string {
  const W = 760;
  const L = 300;
  const R = 150;
  const T = 36;
  const ROW = 22;
  const B = 24;
  const H = T + bars.length * ROW + B;
  const vMax = niceMax(Math.max(0, ref?.value ?? 0, ...bars.map((b) => b.value ?? 0)));
  const x = (v: number): number => L + ((W - L - R) * v) / vMax;
  const parts: string[] = [];
  parts.push(`<text x="8" y="16" class="t">${esc(title)}${unit ? ` (${esc(unit)})` : ''}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (vMax * i) / 4;
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${T}" y2="${H - B}" class="g"/>`);
    parts.push(`<text x="${x(v)}" y="${H - 8}" class="a" text-anchor="middle">${+v.toPrecision(3)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = T + i * ROW;
    const value = b.value === null ? '?' : String(b.value);
    const w = b.value === null ? 0 : Math.max(0, x(b.value) - L);
    parts.push(
      `<g class="bar" data-value="${value}"><title>${esc(`${b.label}: ${value} ${unit}, ${b.note}`)}</title>` +
        `<text x="${L - 6}" y="${y + 15}" class="a" text-anchor="end">${esc(b.label)}</text>` +
        `<rect x="${L}" y="${y + 4}" width="${w.toFixed(1)}" height="${ROW - 8}" fill="${b.color}"/>` +
        `<text x="${(L + w + 4).toFixed(1)}" y="${y + 15}" class="a">${esc(`${value} (${b.note})`)}</text></g>`,
    );
  });
  if (ref) {
    const rx = x(ref.value).toFixed(1);
    parts.push(`<line x1="${rx}" x2="${rx}" y1="${T - 2}" y2="${H - B}" class="m"/>`);
    parts.push(`<text x="${rx}" y="${T - 6}" class="a" text-anchor="middle">${esc(ref.label)}</text>`);
  }
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${parts.join('')}</svg>`;
}

const TOXIC_COLORS: Record<string, string> = {
  latency: '#f28e2b',
  bandwidth: '#edc948',
  timeout: '#e15759',
  reset_peer: '#b07aa1',
  slicer: '#76b7b2',
};

/** Records per second to Kafka in each toxic phase, against the same run's clean start (the dashed line). */
export function linkChart(f: LinkFigures): string {
  const sec = (ms: number | null): string => (ms === null ? 'end' : `${(ms / 1000).toFixed(0)} s`);
  const stalls = new Map(f.stalls.map((s) => [s.fromMs, s.stalledAfterSec]));
  const b = f.before;
  const bars: Bar[] = [
    ...(b
      ? [
          {
            label: 'no toxic (the clean start)',
            value: b.perSec,
            note: `${b.forwarded ?? '?'} records`,
            color: '#59a14f',
          },
        ]
      : []),
    ...f.phases.map((p) => {
      const stall = p.type === 'timeout' && p.link === 'kafka' ? stalls.get(p.fromMs) : undefined;
      const stalled = stall === undefined ? '' : stall === null ? ', never stalled' : `, stalled after ${stall} s`;
      return {
        label: `${p.label} (${sec(p.fromMs)}–${sec(p.toMs)})`,
        value: p.perSec,
        note: `${p.forwarded ?? '?'} records${stalled}`,
        color: TOXIC_COLORS[p.type] ?? '#4e79a7',
      };
    }),
  ];
  const ref = b?.perSec ? { label: `clean ${b.perSec}/s`, value: b.perSec } : undefined;
  return barChart('Records to Kafka per toxic phase', 'records/s', bars, ref);
}

function kv(obj: object): string {
  const rows = Object.entries(obj).map(
    ([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'object' ? JSON.stringify(v) : String(v))}</td></tr>`,
  );
  return `<table>${rows.join('')}</table>`;
}

const MB = 2 ** 20;

/** Over the drain (Kafka up to the backlog back at its level before): the ETA /healthz gave taken to that level
 * (as the outage figures take it), and the time that was actually left; undefined outside the drain. */
function drainCurves(g: Gauges, o: OutageFigures): Series[] {
  const end = o.drainEndAt;
  if (end === null) return [];
  const inDrain = (t: number): boolean => t >= o.upAt && t <= end;
  const toLevel = g.t.map((t, i) => {
    const eta = g.series.drainEtaSec[i];
    const backlog = g.series.backlogRecords[i];
    if (!inDrain(t) || eta === null || eta === undefined || backlog === null || backlog === undefined) return undefined;
    return backlog <= 0 ? 0 : (eta * Math.max(0, backlog - o.drainToRecords)) / backlog;
  });
  const actual = g.t.map((t) => (inDrain(t) ? (end - t) / 1000 : undefined));
  return [
    { name: 'ETA to level', color: '#4e79a7', values: toLevel },
    { name: 'actual left', color: '#59a14f', values: actual },
  ];
}

/** The gateway's curves: backlog, outbox bytes on disk vs the budget, in/out rates, drain ETA (against the time
 * actually left, after an outage), RSS. */
function gaugeCharts(g: Gauges, marks: HtmlInput['marks'], outage?: OutageFigures | null): string[] {
  const xs = g.t.map((t) => t / 1000);
  const col = (k: GaugeKey, scale = 1): (number | undefined)[] =>
    g.series[k].map((v) => (v === null ? undefined : v / scale));
  const budget = Math.max(0, ...g.series.budgetBytes.map((v) => v ?? 0));
  const disk = Math.max(0, ...g.series.diskBytes.map((v) => v ?? 0), ...g.series.backlogBytes.map((v) => v ?? 0));
  // The budget line only when it is near enough to the curves to leave them readable.
  const budgetLine =
    budget > 0 && disk >= budget / 20 ? [{ name: 'budget', color: '#c00', values: col('budgetBytes', MB) }] : [];
  return [
    lineChart(
      'Gateway backlog (outbox, not yet in Kafka)',
      'records',
      xs,
      [{ name: 'backlog', color: '#edc948', values: col('backlogRecords') }],
      marks,
    ),
    lineChart(
      `Gateway store on disk${budget ? ` (budget ${(budget / MB).toFixed(0)} MB)` : ''}`,
      'MB',
      xs,
      [
        { name: 'data dir', color: '#4e79a7', values: col('diskBytes', MB) },
        { name: 'backlog', color: '#f28e2b', values: col('backlogBytes', MB) },
        ...budgetLine,
      ],
      marks,
    ),
    lineChart(
      'Gateway outbox in/out (30 s window)',
      'records/s',
      xs,
      [
        { name: 'in', color: '#4e79a7', values: col('inRate') },
        { name: 'out', color: '#59a14f', values: col('outRate') },
      ],
      marks,
    ),
    lineChart(
      outage?.drainEndAt != null ? 'Drain ETA (/healthz) vs the time actually left' : 'Drain ETA given by /healthz',
      's',
      xs,
      [{ name: 'ETA', color: '#b07aa1', values: col('drainEtaSec') }, ...(outage ? drainCurves(g, outage) : [])],
      marks,
    ),
    lineChart(
      'Gateway RSS',
      'MB',
      xs,
      [
        { name: 'RSS', color: '#9c755f', values: col('rssBytes', MB) },
        { name: 'anonymous (without mapped files)', color: '#4e79a7', values: col('anonBytes', MB) },
      ],
      marks,
    ),
  ];
}

const mbText = (b: number | null): string => (b === null ? '–' : `${(b / MB).toFixed(1)} MB`);

/** The run's figures (and the outage's, when there was one) as a table. */
function figuresTable(f: RunFigures, checks: CheckResult[] = []): string {
  const rows: Record<string, string> = {
    'peak backlog': `${f.peakBacklogRecords ?? '–'} records, ${mbText(f.peakBacklogBytes)}`,
    'peak on disk': `${mbText(f.peakDiskBytes)} of a ${mbText(f.budgetBytes)} budget`,
    RSS: `first ${mbText(f.rss.first)}, peak ${mbText(f.rss.peak)}, last ${mbText(f.rss.last)}`,
    'RSS, anonymous': `first ${mbText(f.anon.first)}, peak ${mbText(f.anon.peak)}, last ${mbText(f.anon.last)}`,
  };
  const o = f.outage;
  if (o) {
    rows.outage = `${o.outageSec.toFixed(1)} s (Kafka down at ${(o.stopAt / 1000).toFixed(1)} s)`;
    rows.drain =
      o.drainSec === null
        ? 'not back to the level before'
        : `${o.drainSec.toFixed(1)} s from ${o.drainFromRecords} records` +
          (o.resumeSec === null ? '' : `, forwarding resumed ${o.resumeSec.toFixed(1)} s after Kafka was up`);
    for (const e of o.eta) {
      rows[`ETA at ${e.pct} %`] =
        `${e.etaSec ?? 'none'} s given (${e.etaToLevelSec ?? 'none'} s to the level before), ${e.actualSec.toFixed(1)} s left${e.errorPct === null ? '' : ` (error ${e.errorPct} %)`}`;
    }
    const l = o.liveLatency;
    if (l) rows['live latency in the drain'] = `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (${l.count} msgs)`;
  }
  if (f.links) Object.assign(rows, linkRows(f.links));
  for (const c of checks) rows[`check ${c.name}`] = `${c.ok ? 'OK' : 'FAIL'}: ${c.detail}`;
  return `<h2>Gateway figures</h2>${kv(rows)}`;
}

function charts(input: HtmlInput): string[] {
  const xs = input.samples.map((s) => s.t / 1000);
  const pick = (f: (s: ProgressSample) => number | undefined): (number | undefined)[] => input.samples.map(f);
  const out = [
    lineChart(
      'Message rate',
      'msg/s',
      xs,
      [
        { name: 'sent', color: '#4e79a7', values: pick((s) => s.sentRate) },
        { name: 'acked', color: '#59a14f', values: pick((s) => s.ackRate) },
      ],
      input.marks,
    ),
    lineChart(
      'Backlog on the devices',
      'messages',
      xs,
      [
        { name: 'in flight', color: '#f28e2b', values: pick((s) => s.inflight) },
        { name: 'queued', color: '#e15759', values: pick((s) => s.queued ?? 0) },
      ],
      input.marks,
    ),
    lineChart(
      'PUBACK latency',
      'ms',
      xs,
      [
        { name: 'p50', color: '#76b7b2', values: pick((s) => s.ackP50) },
        { name: 'p99', color: '#b07aa1', values: pick((s) => s.ackP99) },
      ],
      input.marks,
    ),
    lineChart(
      'Connected devices',
      '',
      xs,
      [{ name: 'connected', color: '#9c755f', values: pick((s) => s.connected) }],
      input.marks,
    ),
  ];
  if (input.gauges?.t.length) out.splice(1, 0, ...gaugeCharts(input.gauges, input.marks, input.figures?.outage));
  if (input.figures?.links) out.splice(1, 0, linkChart(input.figures.links));
  return out;
}

function sections(input: HtmlInput): string[] {
  const out: string[] = [];
  if (input.ledger) {
    const t = ledgerTotals(input.ledger);
    const secs = (input.ledger.endedAt - input.ledger.startedAt) / 1000;
    out.push(
      `<h2>Run</h2>${kv({ run: input.ledger.runId, url: input.ledger.url, seconds: secs.toFixed(1), ...t, ...(input.stats ?? {}) })}`,
    );
  }
  if (input.verify) {
    const v = input.verify;
    out.push(
      `<h2>Verify: <span class="${v.ok ? 'ok' : 'bad'}">${v.ok ? 'OK' : 'FAIL'}</span></h2>` +
        kv({ topics: v.topics.join(','), ...v.totals, ...(v.latency ? { latency_ms: v.latency } : {}) }),
    );
  }
  if (input.figures) out.push(figuresTable(input.figures, input.checks));
  for (const t of input.tables ?? []) out.push(`<h2>${esc(t.title)}</h2>${kv(t.rows)}`);
  return out;
}

export function renderHtml(input: HtmlInput): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
svg{display:block;margin:12px 0;background:#fafafa;border:1px solid #ddd}
.t{font-size:13px;font-weight:600}.a{font-size:10px;fill:#555}.g{stroke:#e3e3e3}.m{stroke:#c00;stroke-dasharray:3 3}
table{border-collapse:collapse}th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
.ok{color:#2a7}.bad{color:#c22}
</style></head><body>
<h1>${esc(input.title)}</h1>
${sections(input).join('\n')}
<h2>Over time</h2>
${charts(input).join('\n')}
</body></html>
`;
}
