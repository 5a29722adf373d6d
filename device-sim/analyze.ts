// Pure checking of what a reader saw in Kafka against a run ledger: lost, duplicated, out of order, extra, latency.
// No I/O here, so the arithmetic is unit-tested on fixed inputs.
import { type DeviceLedger, type Ledger, publishTimeLookup } from './ledger.ts';
import { countRanges, fromSeqs, hasSeq, type Range, subtractRanges } from './ranges.ts';

/** One record read from Kafka, already decoded to the simulator's fields. */
export interface ObservedRecord {
  device: string;
  seq: number;
  run: string;
  topic: string;
  partition: number;
  offset: number;
  /** Kafka record timestamp (ms). */
  timestamp: number;
  /** When the reader received it (ms). */
  consumedAt: number;
  /** `gateway.msg_id` header, when present. */
  msgId?: string;
  /** `gateway.id` header, when the reader was asked for it. */
  gatewayId?: string;
  /** Publish time from the payload (`ts`), used when the ledger has none. */
  payloadTs?: number;
}

export interface DeviceReport {
  id: string;
  /** Acked seqs: these must be in Kafka. */
  expected: number;
  /** Expected seqs seen at least once. */
  found: number;
  lost: number;
  lostRanges: Range[];
  /** Extra copies of a seq (3 copies = 2 duplicates). */
  duplicates: number;
  /** Duplicates whose gateway.msg_id differs from the first copy's (ingested twice, not re-sent by the forwarder). */
  duplicatesNewId: number;
  /** First appearances whose seq is below one already seen for the device in the same partition. */
  outOfOrder: number;
  /** Seen but never acked (delivered although the ack was lost): not a failure. */
  extra: number;
  partitions: number[];
}

export interface LatencyStats {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface VerifyReport {
  ok: boolean;
  runId: string;
  topics: string[];
  totals: {
    devices: number;
    expected: number;
    found: number;
    lost: number;
    duplicates: number;
    duplicatesNewId: number;
    outOfOrder: number;
    extra: number;
    /** Records of this run read from Kafka (copies included). */
    records: number;
  };
  /** Records of other runs, of devices not in the ledger, or not from the simulator: ignored. */
  ignored: { otherRuns: number; unknownDevices: number; undecodable: number };
  latency: LatencyStats | null;
  latencySource: 'append' | 'consume';
  /** Devices whose records sit in more than one partition: order is then only checked per partition. */
  splitDevices: string[];
  devices: DeviceReport[];
  readMs: number;
  /** Why reading stopped: every acked message seen, or nothing new within the idle timeout. */
  stoppedBy: 'complete' | 'idle-timeout';
}

export interface AnalyzeOptions {
  latencySource?: 'append' | 'consume';
  undecodable?: number;
  topics?: string[];
  readMs?: number;
  stoppedBy?: 'complete' | 'idle-timeout';
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function latencyStats(values: number[]): LatencyStats | null {
  if (!values.length) return null;
  const s = Float64Array.from(values).sort();
  return {
    count: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1]!,
  };
}

/** This run's records by device; the others are counted in `ignored`. */
function recordsByDevice(ledger: Ledger, records: readonly ObservedRecord[], ignored: VerifyReport['ignored']) {
  const byDevice = new Map<string, ObservedRecord[]>();
  let count = 0;
  for (const r of records) {
    if (r.run !== ledger.runId) {
      ignored.otherRuns++;
      continue;
    }
    if (!ledger.devices[r.device]) {
      ignored.unknownDevices++;
      continue;
    }
    count++;
    const list = byDevice.get(r.device);
    if (list) list.push(r);
    else byDevice.set(r.device, [r]);
  }
  return { byDevice, count };
}

/** One device's records against its ledger entry: copies, order per partition, latencies, lost and extra seqs. */
function analyzeDevice(
  d: DeviceLedger,
  records: readonly ObservedRecord[],
  source: 'append' | 'consume',
  latencies: number[],
): DeviceReport {
  const list = records.slice().sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const firstCopy = new Map<number, ObservedRecord>();
  const maxInPartition = new Map<number, number>();
  let duplicates = 0;
  let duplicatesNewId = 0;
  let outOfOrder = 0;
  const pubTime = publishTimeLookup(d.times);
  for (const r of list) {
    const orig = firstCopy.get(r.seq);
    if (orig) {
      duplicates++;
      if (orig.msgId !== r.msgId) duplicatesNewId++;
      continue;
    }
    firstCopy.set(r.seq, r);
    const max = maxInPartition.get(r.partition);
    if (max !== undefined && r.seq < max) outOfOrder++;
    else maxInPartition.set(r.partition, r.seq);
    if (hasSeq(d.acked, r.seq)) {
      const published = pubTime(r.seq) ?? r.payloadTs;
      const seenAt = source === 'append' ? r.timestamp : r.consumedAt;
      if (published !== undefined && Number.isFinite(published) && Number.isFinite(seenAt)) {
        latencies.push(seenAt - published);
      }
    }
  }
  const seen = fromSeqs(firstCopy.keys());
  const lostRanges = subtractRanges(d.acked, seen);
  const expected = countRanges(d.acked);
  const lost = countRanges(lostRanges);
  return {
    id: d.id,
    expected,
    found: expected - lost,
    lost,
    lostRanges,
    duplicates,
    duplicatesNewId,
    outOfOrder,
    extra: countRanges(subtractRanges(seen, d.acked)),
    partitions: [...maxInPartition.keys()].sort((a, b) => a - b),
  };
}

type Counted = 'expected' | 'found' | 'lost' | 'duplicates' | 'duplicatesNewId' | 'outOfOrder' | 'extra';

/** Records must be given in the order the reader saw them per partition (offset order). */
export function analyze(ledger: Ledger, records: readonly ObservedRecord[], opts: AnalyzeOptions = {}): VerifyReport {
  const source = opts.latencySource ?? 'append';
  const ignored = { otherRuns: 0, unknownDevices: 0, undecodable: opts.undecodable ?? 0 };
  const { byDevice, count } = recordsByDevice(ledger, records, ignored);
  const latencies: number[] = [];
  const devices = Object.values(ledger.devices).map((d) =>
    analyzeDevice(d, byDevice.get(d.id) ?? [], source, latencies),
  );
  const splitDevices = devices.filter((d) => d.partitions.length > 1).map((d) => d.id);
  const sum = (k: Counted): number => devices.reduce((n, d) => n + d[k], 0);
  const totals = {
    devices: devices.length,
    expected: sum('expected'),
    found: sum('found'),
    lost: sum('lost'),
    duplicates: sum('duplicates'),
    duplicatesNewId: sum('duplicatesNewId'),
    outOfOrder: sum('outOfOrder'),
    extra: sum('extra'),
    records: count,
  };
  return {
    ok: totals.lost === 0 && totals.outOfOrder === 0,
    runId: ledger.runId,
    topics: opts.topics ?? [],
    totals,
    ignored,
    latency: latencyStats(latencies),
    latencySource: source,
    splitDevices,
    devices,
    readMs: opts.readMs ?? 0,
    stoppedBy: opts.stoppedBy ?? 'complete',
  };
}
