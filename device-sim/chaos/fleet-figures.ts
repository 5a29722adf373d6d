// A fleet of gateways checked one gateway at a time against the run's ledger and the records read once from Kafka:
// per gateway its devices' records are lost, duplicated or out of order as the verify counts them; they must all
// carry that gateway's id, and no two gateways may share one; no two different messages may share a gateway.msg_id
// across the fleet. What a gateway had acknowledged but not yet forwarded when its volume was wiped is gone with the
// volume: it is counted apart and bounded (at most the backlog read before the kill, plus what was acknowledged after
// that read). A missing message acknowledged after the gateway came back on the empty volume is lost. Pure.
import { analyze, type ObservedRecord } from '../analyze.ts';
import type { Ledger } from '../ledger.ts';
import { countRanges, hasSeq, type Range } from '../ranges.ts';

/** One volume wipe of a gateway: SIGKILL, its data dir deleted, started again with the same id. */
export interface WipeRecord {
  /** ms since the load started. */
  at: number;
  /** The gateway's backlog (records not yet in Kafka) read just before the kill; null when /healthz did not answer. */
  backlogAtKill: number | null;
  /** Acknowledged seqs per device just before that read, and when the gateway started on the empty volume. */
  ackedAtRead: Record<string, Range[]>;
  ackedAtRestart: Record<string, Range[]>;
  epochBefore: string | null;
  epochAfter: string | null;
}

export interface GatewayInput {
  /** 1-based. */
  n: number;
  /** The id the gateway reported (/healthz gatewayId). */
  id: string;
  /** Its devices' ids (ledger keys). */
  devices: string[];
  wipes: WipeRecord[];
}

export interface WipeFigures {
  at: number;
  backlogAtKill: number | null;
  /** Acknowledged before the restart on the empty volume and missing in Kafka. */
  lostWithVolume: number;
  /** The bound: the backlog at the kill plus what was acknowledged between that read and the restart. */
  allowed: number | null;
  epochBefore: string | null;
  epochAfter: string | null;
}

export interface GatewayFigures {
  gateway: number;
  id: string;
  devices: number;
  acked: number;
  records: number;
  lost: number;
  duplicates: number;
  duplicatesNewId: number;
  outOfOrder: number;
  /** Records of this gateway's devices that carry another gateway id, or none. */
  foreignId: number;
  /** The epochs (per store) in its records' gateway.msg_id, in the order first read. */
  epochs: string[];
  wipes: WipeFigures[];
  problems: string[];
  ok: boolean;
}

export interface GatewayFleetFigures {
  gateways: GatewayFigures[];
  /** Pairs of different messages (device and seq) read under one gateway.msg_id. */
  msgIdCollisions: number;
  /** Problems of the fleet as a whole: shared gateway ids, msg_id collisions. */
  problems: string[];
  ok: boolean;
}

const epochOf = (msgId: string): string => msgId.split('-').at(-2) ?? '';

function subLedger(ledger: Ledger, devices: string[]): Ledger {
  const own = Object.fromEntries(devices.flatMap((d) => (ledger.devices[d] ? [[d, ledger.devices[d]]] : [])));
  return { ...ledger, devices: own };
}

/** Which wipe a missing seq of `device` went with: the first whose restart came after its acknowledgement. */
function wipeOf(wipes: WipeRecord[], device: string, seq: number): number {
  return wipes.findIndex((w) => hasSeq(w.ackedAtRestart[device] ?? [], seq));
}

function acked(byDevice: Record<string, Range[]>): number {
  let n = 0;
  for (const r of Object.values(byDevice)) n += countRanges(r);
  return n;
}

function wipeFigures(w: WipeRecord, lostWithVolume: number): WipeFigures {
  const allowed = w.backlogAtKill === null ? null : w.backlogAtKill + acked(w.ackedAtRestart) - acked(w.ackedAtRead);
  return {
    at: w.at,
    backlogAtKill: w.backlogAtKill,
    lostWithVolume,
    allowed,
    epochBefore: w.epochBefore,
    epochAfter: w.epochAfter,
  };
}

function gatewayFigures(ledger: Ledger, records: readonly ObservedRecord[], g: GatewayInput): GatewayFigures {
  const mine = new Set(g.devices);
  const own = records.filter((r) => r.run === ledger.runId && mine.has(r.device));
  const report = analyze(subLedger(ledger, g.devices), own);
  const problems: string[] = [];
  const withVolume = g.wipes.map(() => 0);
  let lost = 0;
  for (const d of report.devices) {
    const missing: number[] = [];
    for (const [from, to] of d.lostRanges) {
      for (let seq = from; seq <= to; seq++) {
        const w = wipeOf(g.wipes, d.id, seq);
        if (w < 0) missing.push(seq);
        else withVolume[w] = (withVolume[w] ?? 0) + 1;
      }
    }
    lost += missing.length;
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).join(',');
      problems.push(`${d.id}: ${missing.length} acknowledged not in Kafka (${shown}${missing.length > 5 ? ',…' : ''})`);
    }
    if (d.outOfOrder > 0) problems.push(`${d.id}: ${d.outOfOrder} out of order`);
  }
  const wipes = g.wipes.map((w, i) => wipeFigures(w, withVolume[i] ?? 0));
  for (const [i, w] of wipes.entries()) {
    if (w.allowed === null) problems.push(`wipe ${i + 1}: the backlog at the kill was not readable, no bound`);
    else if (w.lostWithVolume > w.allowed) {
      problems.push(`wipe ${i + 1}: ${w.lostWithVolume} lost with the volume, more than the bound ${w.allowed}`);
    }
    if (w.epochAfter === null || w.epochAfter === w.epochBefore) {
      problems.push(`wipe ${i + 1}: the empty volume did not give a new epoch (${w.epochBefore} -> ${w.epochAfter})`);
    }
  }
  const foreign = own.filter((r) => r.gatewayId !== g.id);
  if (foreign.length > 0) {
    const ids = [...new Set(foreign.map((r) => r.gatewayId ?? '(none)'))].slice(0, 3).join(', ');
    problems.push(`${foreign.length} records under another gateway id (${ids})`);
  }
  const epochs = [...new Set(own.flatMap((r) => (r.msgId ? [epochOf(r.msgId)] : [])))];
  return {
    gateway: g.n,
    id: g.id,
    devices: g.devices.length,
    acked: report.totals.expected,
    records: own.length,
    lost,
    duplicates: report.totals.duplicates,
    duplicatesNewId: report.totals.duplicatesNewId,
    outOfOrder: report.totals.outOfOrder,
    foreignId: foreign.length,
    epochs,
    wipes,
    problems,
    ok: problems.length === 0,
  };
}

/** Different messages (device and seq) under one gateway.msg_id; copies of one message are not collisions. */
function collisions(ledger: Ledger, records: readonly ObservedRecord[]): { count: number; examples: string[] } {
  const byId = new Map<string, string>();
  const examples: string[] = [];
  let count = 0;
  for (const r of records) {
    if (r.run !== ledger.runId || r.msgId === undefined) continue;
    const message = `${r.device}#${r.seq}`;
    const before = byId.get(r.msgId);
    if (before === undefined) byId.set(r.msgId, message);
    else if (before !== message) {
      count++;
      if (examples.length < 3) examples.push(`${r.msgId}: ${before} and ${message}`);
    }
  }
  return { count, examples };
}

export function gatewayFleetFigures(
  ledger: Ledger,
  records: readonly ObservedRecord[],
  gateways: GatewayInput[],
): GatewayFleetFigures {
  const figures = gateways.map((g) => gatewayFigures(ledger, records, g));
  const problems: string[] = [];
  const byId = new Map<string, number[]>();
  for (const g of gateways) byId.set(g.id, [...(byId.get(g.id) ?? []), g.n]);
  for (const [id, ns] of byId) if (ns.length > 1) problems.push(`gateways ${ns.join(', ')} share the id ${id}`);
  const c = collisions(ledger, records);
  if (c.count > 0) problems.push(`${c.count} gateway.msg_id collisions: ${c.examples.join('; ')}`);
  return {
    gateways: figures,
    msgIdCollisions: c.count,
    problems,
    ok: problems.length === 0 && figures.every((f) => f.ok),
  };
}

/** The fleet as text: one line per gateway, one per wipe, then the fleet's problems. */
export function formatGatewayFleet(f: GatewayFleetFigures): string {
  const out = ['', `fleet of ${f.gateways.length} gateways: ${f.ok ? 'ok' : 'FAILED'}`];
  for (const g of f.gateways) {
    out.push(
      `  gateway ${g.gateway} (${g.id}): ${g.devices} devices, acked ${g.acked}, records ${g.records}, lost ` +
        `${g.lost}, duplicates ${g.duplicates} (${g.duplicatesNewId} new id), out of order ${g.outOfOrder}, ` +
        `other ids ${g.foreignId}, epochs ${g.epochs.length}`,
    );
    for (const [i, w] of g.wipes.entries()) {
      out.push(
        `    wipe ${i + 1} at ${(w.at / 1000).toFixed(1)} s: backlog at the kill ${w.backlogAtKill ?? '?'}, lost ` +
          `with the volume ${w.lostWithVolume} (bound ${w.allowed ?? '?'}), epoch ${w.epochBefore} -> ${w.epochAfter}`,
      );
    }
    for (const p of g.problems) out.push(`    problem: ${p}`);
  }
  out.push(`  gateway.msg_id collisions across the fleet: ${f.msgIdCollisions}`);
  for (const p of f.problems) out.push(`  problem: ${p}`);
  return `${out.join('\n')}\n`;
}

/** Rows for the HTML report's table. */
export function gatewayFleetRows(f: GatewayFleetFigures): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const g of f.gateways) {
    const wipes = g.wipes.map((w) => `; wipe: lost with the volume ${w.lostWithVolume} of bound ${w.allowed ?? '?'}`);
    rows[`gateway ${g.gateway} (${g.id})`] =
      `acked ${g.acked}, lost ${g.lost}, duplicates ${g.duplicates}, out of order ${g.outOfOrder}, ` +
      `other ids ${g.foreignId}${wipes.join('')}`;
  }
  rows['gateway.msg_id collisions'] = String(f.msgIdCollisions);
  rows.result = f.ok ? 'ok' : `FAILED: ${[...f.problems, ...f.gateways.flatMap((g) => g.problems)].join('; ')}`;
  return rows;
}
