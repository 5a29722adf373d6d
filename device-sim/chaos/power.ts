// Power cuts in a chaos run: what each `power-cut` step saw (the backlog only the disk held, whether the gateway came
// back with its store), and the run's power figures from them and the verify report: per cut, the messages
// acknowledged and lost among those published since the cut before; whether the store opened after every cut and kept
// its epoch (a new epoch is a store created afresh, i.e. everything before it gone). Pure but for readyInfo's input.
import type { VerifyReport } from '../analyze.ts';
import { type Ledger, publishTimeLookup } from '../ledger.ts';
import type { Range } from '../ranges.ts';
import type { PowercutDisk } from './powercut.ts';

/** What the gateway's "gateway ready" line says about its store. */
export interface ReadyInfo {
  epoch: string | null;
  durability: string | null;
}

/** The last "gateway ready" line in the gateway's output (JSON lines), or null. */
export function readyInfo(output: string): ReadyInfo | null {
  const at = output.lastIndexOf('"gateway ready"');
  if (at < 0) return null;
  const end = output.indexOf('\n', at);
  const line = output.slice(output.lastIndexOf('\n', at) + 1, end < 0 ? undefined : end);
  try {
    const o = JSON.parse(line) as { epoch?: unknown; durability?: unknown };
    return {
      epoch: typeof o.epoch === 'string' ? o.epoch : null,
      durability: typeof o.durability === 'string' ? o.durability : null,
    };
  } catch {
    return { epoch: null, durability: null };
  }
}

export interface PowerCutRecord {
  /** Epoch ms of the cut (the gateway's SIGKILL). */
  at: number;
  /** Records not yet acknowledged by Kafka just before the cut: what only the disk held (null: /healthz silent). */
  backlogRecords: number | null;
  /** The gateway started again on the remounted disk and said it was ready (its store opened). */
  reopened: boolean;
  ready: ReadyInfo | null;
  error?: string;
}

/** The power-cut disk and what its cuts saw, kept on the rig. */
export class PowerLog {
  readonly disk: PowercutDisk;
  /** The first start's ready line, before any cut. */
  first: ReadyInfo | null = null;
  readonly cuts: PowerCutRecord[] = [];
  constructor(disk: PowercutDisk) {
    this.disk = disk;
  }
}

export interface PowerCutFigures {
  /** ms since the load started. */
  t: number;
  backlogRecords: number | null;
  reopened: boolean;
  /** Acknowledged messages published after the cut before (or the start) and up to this cut. */
  acked: number;
  /** Of those, not in Kafka. */
  lost: number;
}

export interface PowerFigures {
  cuts: number;
  /** Starts after a cut that reached "gateway ready". */
  reopened: number;
  /** store.durability as the gateway's ready lines gave it; 'mixed' when they differ. */
  durability: string | null;
  /** Distinct store epochs over the first start and every start after a cut (1: the same store every time). */
  epochs: number;
  /** Sum over the cuts of the backlog at the cut. */
  backlogAtCuts: number;
  acked: number;
  lost: number;
  perCut: PowerCutFigures[];
  /** Published after the last cut. */
  afterLastCut: { acked: number; lost: number };
  /** The store opened after every cut (the verify decides about losses). */
  ok: boolean;
}

/** Index of the window a publish time falls in: 0 up to the first cut, k after the k-th. */
function windowOf(cutsAt: readonly number[], t: number): number {
  let lo = 0;
  let hi = cutsAt.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cutsAt[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function countByWindow(
  ranges: readonly Range[],
  time: (seq: number) => number | undefined,
  cutsAt: readonly number[],
  into: number[],
): void {
  for (const [first, last] of ranges) {
    for (let seq = first; seq <= last; seq++) {
      const t = time(seq);
      // A seq without a publish time (none recorded) counts after the last cut.
      const w = t === undefined ? cutsAt.length : windowOf(cutsAt, t);
      into[w] = (into[w] ?? 0) + 1;
    }
  }
}

export function powerFigures(log: PowerLog, ledger: Ledger, report: VerifyReport, started: number): PowerFigures {
  const cutsAt = log.cuts.map((c) => c.at);
  const acked = new Array<number>(cutsAt.length + 1).fill(0);
  const lost = new Array<number>(cutsAt.length + 1).fill(0);
  const lostBy = new Map(report.devices.map((d) => [d.id, d.lostRanges]));
  for (const d of Object.values(ledger.devices)) {
    const time = publishTimeLookup(d.times);
    countByWindow(d.acked, time, cutsAt, acked);
    countByWindow(lostBy.get(d.id) ?? [], time, cutsAt, lost);
  }
  const readies = [log.first, ...log.cuts.map((c) => c.ready)].filter((r): r is ReadyInfo => r !== null);
  const modes = new Set(readies.map((r) => r.durability).filter((m) => m !== null));
  const reopened = log.cuts.filter((c) => c.reopened).length;
  return {
    cuts: log.cuts.length,
    reopened,
    durability: modes.size === 0 ? null : modes.size === 1 ? [...modes][0]! : 'mixed',
    epochs: new Set(readies.map((r) => r.epoch).filter((e) => e !== null)).size,
    backlogAtCuts: log.cuts.reduce((s, c) => s + (c.backlogRecords ?? 0), 0),
    acked: report.totals.expected,
    lost: report.totals.lost,
    perCut: log.cuts.map((c, i) => ({
      t: c.at - started,
      backlogRecords: c.backlogRecords,
      reopened: c.reopened,
      acked: acked[i]!,
      lost: lost[i]!,
    })),
    afterLastCut: { acked: acked[cutsAt.length]!, lost: lost[cutsAt.length]! },
    ok: reopened === log.cuts.length,
  };
}

/** The power figures as text lines, for the chaos command's output. */
export function formatPower(p: PowerFigures): string {
  const out = [
    `power cuts: ${p.cuts} (store.durability ${p.durability ?? '?'}), the gateway came back with its store after ` +
      `${p.reopened} of them${p.reopened === p.cuts ? '' : ' — FAIL'}, ${p.epochs} store epoch${p.epochs === 1 ? '' : 's'}; ` +
      `acknowledged ${p.acked}, lost ${p.lost}; backlog at the cuts ${p.backlogAtCuts} records`,
  ];
  for (const [i, c] of p.perCut.entries()) {
    out.push(
      `  cut ${i + 1} at ${(c.t / 1000).toFixed(1)} s: backlog ${c.backlogRecords ?? '?'}, ` +
        `published since the cut before: ${c.acked} acknowledged, ${c.lost} lost${c.reopened ? '' : ', the gateway did not come back'}`,
    );
  }
  out.push(`  after the last cut: ${p.afterLastCut.acked} acknowledged, ${p.afterLastCut.lost} lost`);
  return `${out.join('\n')}\n`;
}
