// The figures of a Kafka cluster failover run (failover.ts), per broker step: when the ISR went below
// min.insync.replicas, when /healthz showed the link problem and its reason, when the link was up again and the drain
// resumed, and the duplicates the verify found against the fault windows; as rows for the text and the HTML report.
// Pure: no I/O.
import type { ObservedRecord } from '../analyze.ts';
import { type Ledger, publishTimeLookup } from '../ledger.ts';
import { SeenSeqs } from '../seen-seqs.ts';
import { type BrokerFault, CLUSTER_TOPIC, type ClusterLog, type IsrPoint, type LinkPoint } from './failover.ts';
import type { Gauges } from './gauges.ts';

/** A duplicate published this long before a broker step still counts as inside its window (it was in flight). */
export const DUPLICATE_SLACK_MS = 5_000;

/** One broker-kill/broker-stop step and what followed it (ms since the load started; null: not seen). */
export interface BrokerStepFigures {
  t: number;
  label: string;
  /** The ISR of some partition below min.insync.replicas after this step (before the next broker start). */
  isrShortAt: number | null;
  /** The first /healthz after the step with the link not up, before the brokers came back or within 60 s after. */
  problemAt: number | null;
  problemLink: string | null;
  /** kafka.lastError then, and a short name for it (NOT_ENOUGH_REPLICAS, connection refused, stall, …). */
  reason: string | null;
  reasonKind: string | null;
  /** Every distinct reason /healthz gave until the link was up again. */
  reasons: string[];
  /** The first /healthz in that time naming Kafka's refusal for too few in-sync replicas. */
  notEnoughReplicasAt: number | null;
  /** The link up again after the problem. */
  linkUpAt: number | null;
  /** The backlog fell for the first time after the link was up again (forwarding resumed). */
  drainResumedAt: number | null;
  /** The backlog back at its level before the step. */
  drainedAt: number | null;
}

export interface FailoverFigures {
  brokers: BrokerStepFigures[];
  /** What /healthz said of the link, each change (ms since the load started). */
  link: LinkPoint[];
  /** Windows with a partition's ISR below min.insync.replicas (ms since the load started). */
  isrShort: { from: number; to: number | null }[];
  /** The link not up seen while the ISR was short. */
  problemWhileIsrShort: boolean;
  /** Extra copies the verify found, how many of them had a new gateway.msg_id, and how many were published outside
   * every broker fault window ([step − 5 s, drained]). */
  duplicates: {
    count: number;
    newId: number;
    outsideWindows: number;
    publishedAt: { from: number; to: number } | null;
  };
}

/** A short name for kafka.lastError. */
export function reasonKind(e: string | null): string | null {
  if (e === null) return null;
  if (/fewer in-sync replicas|NOT_ENOUGH_REPLICAS/i.test(e)) return 'NOT_ENOUGH_REPLICAS';
  // The Kafka error code the client names last (`…; COORDINATOR_LOAD_IN_PROGRESS`).
  const code = /; ([A-Z][A-Z_]+[A-Z])\.?\)?$/.exec(e)?.[1];
  if (code) return code;
  if (/NOT_LEADER|not the (current )?leader/i.test(e)) return 'NOT_LEADER_OR_FOLLOWER';
  if (/no answer from Kafka/i.test(e)) return 'stall';
  if (/connection refused|ECONNREFUSED/i.test(e)) return 'connection refused';
  if (/timed? ?out|timeout/i.test(e)) return 'timeout';
  return 'other';
}

export interface FailoverInput {
  log: ClusterLog;
  link: LinkPoint[];
  isr: IsrPoint[];
  gauges: Gauges;
  events: { t: number; label: string }[];
  started: number;
  ledger: Ledger;
  records: readonly ObservedRecord[];
  duplicates: { count: number; newId: number };
}

function isrWindows(isr: IsrPoint[]): FailoverFigures['isrShort'] {
  const out: FailoverFigures['isrShort'] = [];
  for (const p of isr) {
    const open = out.at(-1);
    const short = p.minIsr < CLUSTER_TOPIC.minInsync;
    if (short && (!open || open.to !== null)) out.push({ from: p.t, to: null });
    if (!short && open && open.to === null) open.to = p.t;
  }
  return out;
}

function backlogAt(g: Gauges, from: number, to: number): number {
  let m = 0;
  g.t.forEach((t, i) => {
    const v = g.series.backlogRecords[i];
    if (t >= from && t <= to && typeof v === 'number') m = Math.max(m, v);
  });
  return m;
}

function stepFigures(
  input: FailoverInput,
  f: BrokerFault,
  bounds: { isr: number; problem: number },
  isrShort: FailoverFigures['isrShort'],
): BrokerStepFigures {
  const t = f.at - input.started;
  const label =
    input.events.find((e) => e.t >= t - 1000 && e.label.startsWith(`broker ${f.node} ${f.signal}`))?.label ??
    `broker ${f.node} ${f.signal}`;
  const short = isrShort.find((w) => w.from >= t && w.from < bounds.isr);
  const problem = input.link.find((p) => p.t >= t && p.t < bounds.problem && p.link !== 'up');
  const up = problem ? input.link.find((p) => p.t > problem.t && p.link === 'up') : undefined;
  const reasons = problem
    ? [
        ...new Set(
          input.link
            .filter((p) => p.t >= problem.t && p.t < (up?.t ?? Number.POSITIVE_INFINITY) && p.lastError !== null)
            .map((p) => p.lastError as string),
        ),
      ]
    : [];
  const g = input.gauges;
  const level = backlogAt(g, t - 5000, t);
  let resumed: number | null = null;
  let drained: number | null = null;
  if (up) {
    for (let i = 1; i < g.t.length; i++) {
      const [at, v, prev] = [g.t[i]!, g.series.backlogRecords[i], g.series.backlogRecords[i - 1]];
      if (at < up.t || typeof v !== 'number') continue;
      if (resumed === null && typeof prev === 'number' && v < prev) resumed = at;
      if (v <= level) {
        drained = at;
        break;
      }
    }
  }
  return {
    t,
    label,
    isrShortAt: short?.from ?? null,
    problemAt: problem?.t ?? null,
    problemLink: problem?.link ?? null,
    reason: problem?.lastError ?? null,
    reasonKind: reasonKind(problem?.lastError ?? null),
    reasons,
    notEnoughReplicasAt:
      input.link.find(
        (p) =>
          problem !== undefined &&
          p.t >= problem.t &&
          p.t < (up?.t ?? Number.POSITIVE_INFINITY) &&
          reasonKind(p.lastError) === 'NOT_ENOUGH_REPLICAS',
      )?.t ?? null,
    linkUpAt: up?.t ?? null,
    drainResumedAt: resumed ?? drained,
    drainedAt: drained,
  };
}

/** The extra copies' publish times (ms since the load started) and how many fall outside every fault window. */
function duplicateTimes(input: FailoverInput, windows: { from: number; to: number }[]): FailoverFigures['duplicates'] {
  const seen = new SeenSeqs();
  const lookups = new Map<string, (seq: number) => number | undefined>();
  const times: number[] = [];
  for (const r of input.records) {
    const d = input.ledger.devices[r.device];
    if (r.run !== input.ledger.runId || !d) continue;
    if (seen.add(r.device, r.seq)) continue;
    let lookup = lookups.get(r.device);
    if (!lookup) {
      lookup = publishTimeLookup(d.times);
      lookups.set(r.device, lookup);
    }
    const published = lookup(r.seq) ?? r.payloadTs;
    if (published !== undefined) times.push(published - input.started);
  }
  const outside = times.filter((t) => !windows.some((w) => t >= w.from && t <= w.to)).length;
  return {
    ...input.duplicates,
    outsideWindows: outside,
    publishedAt: times.length ? { from: Math.min(...times), to: Math.max(...times) } : null,
  };
}

/** The link states in effect during a window: the one at its start and every change within it. */
export function linkDuring(link: LinkPoint[], w: { from: number; to: number | null }): LinkPoint[] {
  const to = w.to ?? Number.POSITIVE_INFINITY;
  const atStart = link.filter((p) => p.t <= w.from).at(-1);
  return [...(atStart ? [atStart] : []), ...link.filter((p) => p.t > w.from && p.t <= to)];
}

export function failoverFigures(input: FailoverInput): FailoverFigures {
  const isrShort = isrWindows(input.isr);
  const starts = input.log.starts.map((s) => s.at - input.started);
  const end = input.gauges.t.at(-1) ?? Number.POSITIVE_INFINITY;
  const faults = input.log.faults.map((f) => f.at - input.started);
  // A step's effects are looked for until the next broker step: a start (the link may take up to 60 s more to show
  // the problem it had) or the next fault.
  const brokers = input.log.faults.map((f, i) => {
    const t = faults[i]!;
    const nextFault = faults.find((x) => x > t) ?? Number.POSITIVE_INFINITY;
    const nextStart = starts.find((x) => x > t) ?? end;
    const bounds = { isr: Math.min(nextFault, nextStart), problem: Math.min(nextFault, nextStart + 60_000) };
    return stepFigures(input, f, bounds, isrShort);
  });
  const problemWhileIsrShort = isrShort.some((w) => linkDuring(input.link, w).some((p) => p.link !== 'up'));
  const windows = brokers.map((b) => ({ from: b.t - DUPLICATE_SLACK_MS, to: b.drainedAt ?? end }));
  return { brokers, link: input.link, isrShort, problemWhileIsrShort, duplicates: duplicateTimes(input, windows) };
}

const s = (ms: number | null): string => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);
const after = (ms: number | null, from: number): string => (ms === null ? 'not seen' : `+${s(ms - from)}`);

/** kafka.lastError without the broker list it starts with, its end kept when long (Kafka's own words are last). */
function shortReason(e: string): string {
  const r = e.replace(/^Kafka send \([^)]*\): /, '');
  return r.length > 200 ? `…${r.slice(-200)}` : r;
}

/** The figures as rows (label → text), for the text and the HTML report. */
export function failoverRows(f: FailoverFigures): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const b of f.brokers) {
    const reason = b.reason === null ? '' : `, ${b.reasonKind}: ${shortReason(b.reason)}`;
    const isr = `ISR below ${CLUSTER_TOPIC.minInsync} ${after(b.isrShortAt, b.t)}`;
    rows[`${s(b.t)} ${b.label}`] =
      b.problemAt === null
        ? `${isr}; no link problem seen`
        : `${isr}; link problem ${after(b.problemAt, b.t)} (${b.problemLink}${reason}); ` +
          (b.notEnoughReplicasAt === null ? '' : `NOT_ENOUGH_REPLICAS ${after(b.notEnoughReplicasAt, b.t)}; `) +
          `link up ${after(b.linkUpAt, b.t)}; ` +
          `drain resumed ${after(b.drainResumedAt, b.t)}; back to the level before ${after(b.drainedAt, b.t)}` +
          (b.reasons.length > 1 ? `; reasons seen: ${[...new Set(b.reasons.map(reasonKind))].join(', ')}` : '');
  }
  rows['ISR short'] = f.isrShort.length
    ? f.isrShort.map((w) => `${s(w.from)}–${w.to === null ? 'end' : s(w.to)}`).join(', ') +
      `; link problem seen meanwhile: ${f.problemWhileIsrShort ? 'yes' : 'no'}`
    : 'never';
  const d = f.duplicates;
  rows.duplicates =
    `${d.count} (${d.newId} with a new gateway.msg_id)` +
    (d.publishedAt ? `, published ${s(d.publishedAt.from)}–${s(d.publishedAt.to)}` : '') +
    `, ${d.outsideWindows} outside the broker fault windows (step − ${DUPLICATE_SLACK_MS / 1000} s to drained)`;
  return rows;
}

export function formatFailover(f: FailoverFigures): string {
  const rows = Object.entries(failoverRows(f)).map(([k, v]) => `  ${k}: ${v}`);
  return `failover:\n${rows.join('\n')}\n`;
}
