// Figures of the toxics of a chaos run (`links: toxiproxy`): per toxic phase the records Kafka acknowledged while it
// was on (the gateway's forwarded counter), and for a `timeout` on the kafka link how long until /healthz reported
// the link `stalled`. The checks `stall_within_s` and `drain_moves_on_slow_links`. Pure: no I/O.
import type { LinkName, ToxicType } from './toxic-keys.ts';

/** One toxic phase as the runner saw it (epoch ms). */
export interface PhaseRecord {
  label: string;
  link: LinkName;
  type: ToxicType;
  from: number;
  to: number | null;
  /** gateway_forwarded_records_total when the toxic had been on for a second (what was in flight has landed) and
   * when it was removed; null when unreadable. */
  forwardedFrom: number | null;
  forwardedTo: number | null;
  /** When forwardedFrom was read. */
  countedFrom: number | null;
}

/** A `timeout` toxic on the kafka link and when /healthz first said `stalled` (epoch ms; null: not while it was on). */
export interface StallRecord {
  from: number;
  stalledAt: number | null;
}

export interface ToxicLog {
  phases: PhaseRecord[];
  stalls: StallRecord[];
  /** The baseline: the forwarded counter when the first toxic came (the gateway's counter starts at 0). */
  first?: { at: number; forwarded: number | null };
}

export interface PhaseFigure {
  label: string;
  link: LinkName;
  type: ToxicType;
  /** ms since the load started */
  fromMs: number;
  toMs: number | null;
  /** Records Kafka acknowledged from a second into the phase to its end, and per second. */
  forwarded: number | null;
  perSec: number | null;
}

export interface LinkFigures {
  /** Records to Kafka from the load's start to the first toxic, and per second: the same run's clean link. */
  before: { sec: number; forwarded: number | null; perSec: number | null } | null;
  phases: PhaseFigure[];
  stalls: { fromMs: number; stalledAfterSec: number | null }[];
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

export function linkFigures(log: ToxicLog, started: number): LinkFigures {
  const f = log.first;
  const sec = f ? (f.at - started) / 1000 : 0;
  return {
    before: f
      ? {
          sec: round1(sec),
          forwarded: f.forwarded,
          perSec: f.forwarded === null || sec <= 0 ? null : round1(f.forwarded / sec),
        }
      : null,
    phases: log.phases.map((p) => {
      const counted =
        p.forwardedFrom !== null && p.forwardedTo !== null && p.countedFrom !== null && p.to !== null
          ? { n: p.forwardedTo - p.forwardedFrom, sec: (p.to - p.countedFrom) / 1000 }
          : null;
      return {
        label: p.label,
        link: p.link,
        type: p.type,
        fromMs: p.from - started,
        toMs: p.to === null ? null : p.to - started,
        forwarded: counted ? counted.n : null,
        perSec: counted && counted.sec > 0 ? round1(counted.n / counted.sec) : null,
      };
    }),
    stalls: log.stalls.map((s) => ({
      fromMs: s.from - started,
      stalledAfterSec: s.stalledAt === null ? null : round1((s.stalledAt - s.from) / 1000),
    })),
  };
}

/** The phases whose drain must move: latency and bandwidth on the kafka link. */
export const slowPhases = (f: LinkFigures): PhaseFigure[] =>
  f.phases.filter((p) => p.link === 'kafka' && (p.type === 'latency' || p.type === 'bandwidth'));

export interface LinkChecks {
  stall_within_s?: number;
  drain_moves_on_slow_links?: boolean;
}

export interface LinkCheckResult {
  name: keyof LinkChecks;
  ok: boolean;
  detail: string;
}

export function linkChecks(checks: LinkChecks, f: LinkFigures | undefined): LinkCheckResult[] {
  const out: LinkCheckResult[] = [];
  if (checks.stall_within_s !== undefined) {
    const bound = checks.stall_within_s;
    const stalls = f?.stalls ?? [];
    const ok = stalls.length > 0 && stalls.every((s) => s.stalledAfterSec !== null && s.stalledAfterSec <= bound);
    const detail = stalls.length
      ? `${stalls.map((s) => (s.stalledAfterSec === null ? 'not reported stalled' : `stalled after ${s.stalledAfterSec} s`)).join(', ')} (bound ${bound} s)`
      : 'no timeout toxic on the kafka link';
    out.push({ name: 'stall_within_s', ok, detail });
  }
  if (checks.drain_moves_on_slow_links) {
    const slow = f ? slowPhases(f) : [];
    const ok = slow.length > 0 && slow.every((p) => p.forwarded !== null && p.forwarded > 0);
    const detail = slow.length
      ? slow.map((p) => `${p.label}: ${p.forwarded ?? '?'} records to Kafka (${p.perSec ?? '?'}/s)`).join('; ')
      : 'no latency or bandwidth toxic on the kafka link';
    out.push({ name: 'drain_moves_on_slow_links', ok, detail });
  }
  return out;
}

const sec = (ms: number | null): string => (ms === null ? 'end' : `${(ms / 1000).toFixed(1)}s`);

/** The toxic phases and stalls as rows (what → figure), for the text and the HTML report. */
export function linkRows(f: LinkFigures): Record<string, string> {
  const rows: Record<string, string> = {};
  const b = f.before;
  if (b) rows[`no toxic 0.0s–${b.sec.toFixed(1)}s`] = `${b.forwarded ?? '?'} records to Kafka (${b.perSec ?? '?'}/s)`;
  for (const p of f.phases) {
    rows[`toxic ${p.label} ${sec(p.fromMs)}–${sec(p.toMs)}`] =
      `${p.forwarded ?? '?'} records to Kafka${p.perSec === null ? '' : ` (${p.perSec}/s)`}`;
  }
  for (const s of f.stalls) {
    rows[`kafka link blackholed at ${sec(s.fromMs)}`] =
      s.stalledAfterSec === null ? 'never reported stalled' : `/healthz stalled after ${s.stalledAfterSec} s`;
  }
  return rows;
}

/** The toxic phases and stalls as lines for the text report. */
export function formatLinks(f: LinkFigures): string[] {
  return Object.entries(linkRows(f)).map(([k, v]) => `${k}: ${v}`);
}
