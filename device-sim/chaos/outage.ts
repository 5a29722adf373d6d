// Figures of a chaos run from its gauges: peaks (backlog, disk vs budget, RSS) always; for a Kafka outage (a
// kafka-stop/kill … kafka-start window without a power cut in it) also the drain: how long it took, the ETA the
// gateway gave at 25/50/75 % of it (taken to the drain's end level) against the time that was actually left, and the
// publish-to-Kafka latency of the messages published meanwhile.
// Informational unless the scenario's `checks` ask for a bound. Pure: no I/O.

import type { ObservedRecord } from '../analyze.ts';
import { latencyStats } from '../analyze.ts';
import { type Ledger, publishTimeLookup } from '../ledger.ts';
import { SeenSeqs } from '../seen-seqs.ts';
import type { GaugeKey, Gauges } from './gauges.ts';
import { type LinkChecks, type LinkFigures, linkChecks, linkFigures, type ToxicLog } from './link-figures.ts';

export interface EtaPoint {
  /** Share of the drain done, percent. */
  pct: number;
  /** ms since the load started. */
  t: number;
  /** What /healthz said: seconds until the backlog is empty at the net rate (out − in) since the link came up; null
   * when it gave none (not shrinking, link down, or the link only just up). */
  etaSec: number | null;
  /** The backlog then, records. */
  backlogRecords: number;
  /** The ETA to the drain's end: the drain ends at the level before the outage, not at 0, so at the same net rate
   * it is etaSec × (backlog − level) / backlog. */
  etaToLevelSec: number | null;
  actualSec: number;
  /** (etaToLevel − actual) / actual × 100; null without an ETA or with no time left. */
  errorPct: number | null;
}

export interface OutageFigures {
  /** ms since the load started: Kafka stopped, Kafka up again, the backlog back to its level before. */
  stopAt: number;
  upAt: number;
  outageSec: number;
  /** Backlog when the drain began (its highest after Kafka came back). */
  drainFromRecords: number;
  /** The backlog's level before the outage: the drain is over when it is back there. */
  drainToRecords: number;
  /** Seconds from Kafka up to the backlog's first fall (the forwarder reconnected). */
  resumeSec: number | null;
  drainEndAt: number | null;
  drainSec: number | null;
  eta: EtaPoint[];
  /** Publish → Kafka timestamp of the acknowledged messages published during the drain. */
  liveLatency: { count: number; p50: number; p99: number; max: number } | null;
}

export interface RunFigures {
  peakBacklogRecords: number | null;
  peakBacklogBytes: number | null;
  peakDiskBytes: number | null;
  budgetBytes: number | null;
  rss: Gauges['rss'];
  /** The anonymous part of the RSS (without LevelDB's mapped table files). */
  anon: Gauges['anon'];
  outage: OutageFigures | null;
  /** With links: toxiproxy: the toxic phases and the kafka link's stalls. */
  links?: LinkFigures;
}

const peak = (g: Gauges, k: GaugeKey, from = 0, to = Number.POSITIVE_INFINITY): number | null => {
  let m: number | null = null;
  g.series[k].forEach((v, i) => {
    const t = g.t[i]!;
    if (v !== null && t >= from && t <= to) m = Math.max(m ?? v, v);
  });
  return m;
};

/**
 * The first Kafka stop (or kill) and the first "kafka up" after it; none without a kafka-stop/kafka-kill step. None
 * either when the power was cut in between: there the stop only keeps the acknowledged records on the disk alone, and
 * the gateway that drains was started during it on what its disk kept, so drain, ETA and live latency say nothing of
 * how a gateway rides out an outage.
 */
export function outageWindow(events: { t: number; label: string }[]): { stopAt: number; upAt: number } | undefined {
  const stop = events.find((e) => e.label === 'kafka stop' || e.label === 'kafka SIGKILL');
  if (!stop) return undefined;
  const up = events.find((e) => e.t >= stop.t && e.label === 'kafka up');
  if (!up) return undefined;
  const cut = events.some((e) => e.t >= stop.t && e.t <= up.t && e.label.startsWith('power cut'));
  return cut ? undefined : { stopAt: stop.t, upAt: up.t };
}

/** Index of the first point at or after `from` (ms) whose backlog is at or under `level`. */
function firstAtOrUnder(g: Gauges, from: number, level: number): number {
  return g.t.findIndex((t, i) => {
    const v = g.series.backlogRecords[i];
    return t >= from && v !== null && v !== undefined && v <= level;
  });
}

function etaPoints(g: Gauges, fromAt: number, from: number, to: number, endAt: number): EtaPoint[] {
  const out: EtaPoint[] = [];
  for (const pct of [25, 50, 75]) {
    const i = firstAtOrUnder(g, fromAt, from - ((from - to) * pct) / 100);
    if (i < 0) continue;
    const t = g.t[i]!;
    const etaSec = g.series.drainEtaSec[i] ?? null;
    const backlogRecords = g.series.backlogRecords[i] ?? 0;
    // A point sampled once the backlog was already empty (a drain shorter than the sampling step): nothing left.
    const etaToLevelSec =
      etaSec === null
        ? null
        : backlogRecords <= 0
          ? 0
          : Math.round(((etaSec * Math.max(0, backlogRecords - to)) / backlogRecords) * 10) / 10;
    const actualSec = Math.max(0, (endAt - t) / 1000);
    const errorPct =
      etaToLevelSec === null || actualSec === 0
        ? null
        : Math.round(((etaToLevelSec - actualSec) / actualSec) * 1000) / 10;
    out.push({ pct, t, etaSec, backlogRecords, etaToLevelSec, actualSec, errorPct });
  }
  return out;
}

/** Latency of acknowledged messages published in [fromMs, toMs] (epoch ms), first copies only. */
export function liveLatency(
  ledger: Ledger,
  records: readonly ObservedRecord[],
  fromMs: number,
  toMs: number,
): OutageFigures['liveLatency'] {
  const lookups = new Map<string, (seq: number) => number | undefined>();
  const seen = new SeenSeqs();
  const values: number[] = [];
  for (const r of records) {
    const d = ledger.devices[r.device];
    if (r.run !== ledger.runId || !d) continue;
    let lookup = lookups.get(r.device);
    if (!lookup) {
      lookup = publishTimeLookup(d.times);
      lookups.set(r.device, lookup);
    }
    const published = lookup(r.seq) ?? r.payloadTs;
    if (published === undefined || published < fromMs || published > toMs) continue;
    if (!seen.add(r.device, r.seq)) continue;
    values.push(r.timestamp - published);
  }
  const s = latencyStats(values);
  return s ? { count: s.count, p50: s.p50, p99: s.p99, max: s.max } : null;
}

export interface FigureInput {
  gauges: Gauges;
  events: { t: number; label: string }[];
  /** Epoch ms the load started (event and gauge times count from it). */
  started: number;
  ledger?: Ledger;
  records?: readonly ObservedRecord[];
  toxics?: ToxicLog;
}

function outageFigures(input: FigureInput, w: { stopAt: number; upAt: number }): OutageFigures {
  const g = input.gauges;
  const drainToRecords = peak(g, 'backlogRecords', 0, w.stopAt) ?? 0;
  const drainFromRecords = peak(g, 'backlogRecords', w.upAt) ?? 0;
  const peakIdx = g.t.findIndex((t, i) => t >= w.upAt && g.series.backlogRecords[i] === drainFromRecords);
  const endIdx = peakIdx < 0 ? -1 : firstAtOrUnder(g, g.t[peakIdx]!, drainToRecords);
  const fallIdx = peakIdx < 0 ? -1 : firstAtOrUnder(g, g.t[peakIdx]!, drainFromRecords - 1);
  const drainEndAt = endIdx < 0 ? null : g.t[endIdx]!;
  const eta =
    drainEndAt === null || peakIdx < 0 ? [] : etaPoints(g, g.t[peakIdx]!, drainFromRecords, drainToRecords, drainEndAt);
  const live =
    drainEndAt !== null && input.ledger && input.records
      ? liveLatency(input.ledger, input.records, input.started + w.upAt, input.started + drainEndAt)
      : null;
  return {
    ...w,
    outageSec: (w.upAt - w.stopAt) / 1000,
    drainFromRecords,
    drainToRecords,
    resumeSec: fallIdx < 0 ? null : (g.t[fallIdx]! - w.upAt) / 1000,
    drainEndAt,
    drainSec: drainEndAt === null ? null : (drainEndAt - w.upAt) / 1000,
    eta,
    liveLatency: live,
  };
}

export function runFigures(input: FigureInput): RunFigures {
  const g = input.gauges;
  const w = outageWindow(input.events);
  return {
    peakBacklogRecords: peak(g, 'backlogRecords'),
    peakBacklogBytes: peak(g, 'backlogBytes'),
    peakDiskBytes: peak(g, 'diskBytes'),
    budgetBytes: peak(g, 'budgetBytes'),
    rss: { ...g.rss },
    anon: { ...g.anon },
    outage: w ? outageFigures(input, w) : null,
    ...(input.toxics ? { links: linkFigures(input.toxics, input.started) } : {}),
  };
}

export interface Checks extends LinkChecks {
  drain_eta_error_pct?: number;
  disk_within_budget?: boolean;
  rss_max_mb?: number;
}

export interface CheckResult {
  name: keyof Checks;
  ok: boolean;
  detail: string;
}

const mb = (b: number | null): string => (b === null ? '?' : `${(b / 2 ** 20).toFixed(1)} MB`);

function etaCheck(f: RunFigures, bound: number): CheckResult {
  const eta = f.outage?.eta ?? [];
  const errs = eta.map((e) => e.errorPct);
  const ok = eta.length === 3 && errs.every((e) => e !== null && Math.abs(e) <= bound);
  const detail = eta.length
    ? `ETA error ${eta.map((e) => `${e.pct} % ${e.errorPct === null ? 'none' : `${e.errorPct} %`}`).join(', ')} (bound ±${bound} %)`
    : 'no drain measured';
  return { name: 'drain_eta_error_pct', ok, detail };
}

/** The scenario's explicit checks against the figures; none asked, none given. */
export function evaluateChecks(checks: Checks | undefined, f: RunFigures): CheckResult[] {
  const out: CheckResult[] = [];
  if (!checks) return out;
  if (checks.drain_eta_error_pct !== undefined) out.push(etaCheck(f, checks.drain_eta_error_pct));
  if (checks.disk_within_budget) {
    const ok = f.peakDiskBytes !== null && f.budgetBytes !== null && f.peakDiskBytes <= f.budgetBytes;
    out.push({ name: 'disk_within_budget', ok, detail: `peak on disk ${mb(f.peakDiskBytes)} of ${mb(f.budgetBytes)}` });
  }
  if (checks.rss_max_mb !== undefined) {
    const ok = f.rss.peak !== null && f.rss.peak <= checks.rss_max_mb * 2 ** 20;
    out.push({ name: 'rss_max_mb', ok, detail: `peak RSS ${mb(f.rss.peak)} (bound ${checks.rss_max_mb} MB)` });
  }
  out.push(...linkChecks(checks, f.links));
  return out;
}
