// The run ledger: what the simulator published and what the gateway acknowledged, per device. `verify` checks Kafka
// against it. Acked seqs are stored as ranges and publish times as a base plus deltas, so a 1,000-message device costs
// a few kilobytes at most.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { addSeq, countRanges, hasSeq, mergeRanges, type Range } from './ranges.ts';

export const LEDGER_VERSION = 1;

/** Publish times of seqs first..first+deltas.length: t(first) = t0, t(s+1) = t(s) + deltas[s - first]. */
export interface PublishTimes {
  first: number;
  t0: number;
  deltas: number[];
}

export interface DeviceLedger {
  /** MQTT client id, also the payload's `device` and the Kafka key by default. */
  id: string;
  /** MQTT topics this device published on. */
  topics: string[];
  qos: 0 | 1 | 2;
  /** Distinct seqs handed to the MQTT client (retransmits are not counted again). */
  sent: number;
  /** Seqs whose PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived. */
  acked: Range[];
  /** Publish time per seq, in ms since the epoch; absent when not recorded. */
  times?: PublishTimes;
  connects: number;
  disconnects: number;
}

export interface Ledger {
  version: typeof LEDGER_VERSION;
  /** Random id carried in every payload (`run`), so verify ignores earlier runs on the same topic. */
  runId: string;
  command: string;
  url: string;
  startedAt: number;
  endedAt: number;
  devices: Record<string, DeviceLedger>;
}

/** Mutable per-device state while a run is in progress; `toLedger()` freezes it. */
export class DeviceRecorder {
  readonly id: string;
  readonly qos: 0 | 1 | 2;
  readonly topics = new Set<string>();
  sent = 0;
  ackedCount = 0;
  connects = 0;
  disconnects = 0;
  readonly acked: Range[] = [];
  private first = -1;
  private t0 = 0;
  private last = 0;
  private readonly deltas: number[] = [];

  constructor(id: string, qos: 0 | 1 | 2) {
    this.id = id;
    this.qos = qos;
  }

  /** Records the first publish of `seq`; seqs must be recorded in increasing, gapless order. */
  published(seq: number, topic: string, ts: number): void {
    this.topics.add(topic);
    this.sent++;
    if (this.first < 0) {
      this.first = seq;
      this.t0 = ts;
    } else {
      this.deltas.push(ts - this.last);
    }
    this.last = ts;
  }

  ack(seq: number): void {
    // A late duplicate ack (e.g. after a reconnect) must not count twice.
    if (hasSeq(this.acked, seq)) return;
    addSeq(this.acked, seq);
    this.ackedCount++;
  }

  toLedger(): DeviceLedger {
    const out: DeviceLedger = {
      id: this.id,
      topics: [...this.topics],
      qos: this.qos,
      sent: this.sent,
      acked: this.acked.map((r) => [r[0], r[1]] as Range),
      connects: this.connects,
      disconnects: this.disconnects,
    };
    if (this.first >= 0) out.times = { first: this.first, t0: this.t0, deltas: [...this.deltas] };
    return out;
  }
}

/** Expands the compact publish times into a seq → ms lookup. */
export function publishTimeLookup(times: PublishTimes | undefined): (seq: number) => number | undefined {
  if (!times) return () => undefined;
  const abs = new Float64Array(times.deltas.length + 1);
  abs[0] = times.t0;
  for (let i = 0; i < times.deltas.length; i++) abs[i + 1] = abs[i]! + times.deltas[i]!;
  return (seq) => {
    const i = seq - times.first;
    return i >= 0 && i < abs.length ? abs[i] : undefined;
  };
}

export function ledgerTotals(ledger: Ledger): { devices: number; sent: number; acked: number } {
  let sent = 0;
  let acked = 0;
  for (const d of Object.values(ledger.devices)) {
    sent += d.sent;
    acked += countRanges(d.acked);
  }
  return { devices: Object.keys(ledger.devices).length, sent, acked };
}

/** Combines ledgers of runs that share a run id (e.g. the fleet run split over processes). */
export function mergeLedgers(a: Ledger, b: Ledger): Ledger {
  if (a.runId !== b.runId) throw new Error(`cannot merge ledgers of different runs (${a.runId} vs ${b.runId})`);
  const devices: Record<string, DeviceLedger> = { ...a.devices };
  for (const [id, d] of Object.entries(b.devices)) {
    const prev = devices[id];
    devices[id] = prev
      ? {
          ...prev,
          topics: [...new Set([...prev.topics, ...d.topics])],
          sent: Math.max(prev.sent, d.sent),
          acked: mergeRanges(prev.acked, d.acked),
          connects: prev.connects + d.connects,
          disconnects: prev.disconnects + d.disconnects,
        }
      : d;
  }
  return {
    ...a,
    startedAt: Math.min(a.startedAt, b.startedAt),
    endedAt: Math.max(a.endedAt, b.endedAt),
    devices,
  };
}

/** Writes atomically (temp file + rename) so a reader never sees half a ledger. */
export async function saveLedger(path: string, ledger: Ledger): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(ledger)}\n`);
  await rename(tmp, path);
}

export async function loadLedger(path: string): Promise<Ledger> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ledger ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseLedger(text, path);
}

export function parseLedger(text: string, source = 'ledger'): Ledger {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const l = raw as Partial<Ledger>;
  if (typeof l !== 'object' || l === null || l.version !== LEDGER_VERSION) {
    throw new Error(`${source}: unsupported ledger version ${String(l?.version)} (expected ${LEDGER_VERSION})`);
  }
  if (typeof l.runId !== 'string' || typeof l.devices !== 'object' || l.devices === null) {
    throw new Error(`${source}: missing runId or devices`);
  }
  for (const [id, d] of Object.entries(l.devices)) {
    if (!Array.isArray(d.acked) || typeof d.sent !== 'number') throw new Error(`${source}: device ${id} is malformed`);
  }
  return l as Ledger;
}
