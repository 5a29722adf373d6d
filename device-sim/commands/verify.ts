// `device-sim verify`: reads Kafka from the beginning and checks it against a run ledger.
import { analyze, type ObservedRecord, type VerifyReport } from '../analyze.ts';
import { commandInfo, defineCommand, type Options, UsageError } from '../args.ts';
import { readTopics } from '../kafka-read.ts';
import { type Ledger, loadLedger } from '../ledger.ts';
import { countRanges, hasSeq } from '../ranges.ts';
import { formatReport } from '../report-text.ts';
import { SeenSeqs } from '../seen-seqs.ts';

export interface VerifyOptions {
  /** A ledger object or the path of a ledger file. */
  ledger: Ledger | string;
  brokers: string[];
  topics: string[];
  /** Stop waiting when nothing new arrived for this long. */
  idleTimeoutMs?: number;
  latencySource?: 'append' | 'consume';
  signal?: AbortSignal;
  onProgress?: (records: number) => void;
  /**
   * Where reading starts: 'beginning' of every partition (default), or 'ledger': the run's start time less a margin,
   * which skips older runs on a long-lived topic (records of this run cannot be older than its first publish).
   */
  from?: 'beginning' | 'ledger';
  /** Given every record read, before they are analysed. */
  onRecords?: (records: readonly ObservedRecord[]) => void;
  /** Keep each record's gateway.id (ObservedRecord.gatewayId). */
  gatewayIds?: boolean;
}

/** Slack for clocks of the gateway and Kafka hosts when starting at the ledger's start time. */
const FROM_LEDGER_MARGIN_MS = 5 * 60_000;

/**
 * Builds the completion check incrementally so each batch costs only its own records: true once every acked
 * (device, seq) of the ledger's run has been read at least once.
 */
export function completionTracker(ledger: Ledger): (records: readonly ObservedRecord[]) => boolean {
  let expected = 0;
  for (const d of Object.values(ledger.devices)) expected += countRanges(d.acked);
  const seen = new SeenSeqs();
  let found = 0;
  let processed = 0;
  return (records) => {
    for (; processed < records.length; processed++) {
      const r = records[processed]!;
      if (r.run !== ledger.runId) continue;
      const d = ledger.devices[r.device];
      if (d && hasSeq(d.acked, r.seq) && seen.add(r.device, r.seq)) found++;
    }
    return found >= expected;
  };
}

export async function runVerify(opts: VerifyOptions): Promise<VerifyReport> {
  const ledger = typeof opts.ledger === 'string' ? await loadLedger(opts.ledger) : opts.ledger;
  const read = await readTopics({
    brokers: opts.brokers,
    topics: opts.topics,
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    isComplete: completionTracker(ledger),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.gatewayIds ? { gatewayIds: true } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.from === 'ledger' ? { fromTimestamp: ledger.startedAt - FROM_LEDGER_MARGIN_MS } : {}),
  });
  opts.onRecords?.(read.records);
  return analyze(ledger, read.records, {
    latencySource: opts.latencySource ?? 'append',
    undecodable: read.undecodable,
    topics: opts.topics,
    readMs: read.readMs,
    stoppedBy: read.stoppedBy,
  });
}

const info = commandInfo({
  name: 'verify',
  summary: 'check Kafka against a run ledger: lost, duplicated, out of order, latency',
  usage: './gw sim verify --ledger run.json [--brokers 127.0.0.1:9092] [--topic edge.uplink] [--timeout 60] [--json]',
  options: {
    ledger: { kind: 'string', help: 'run ledger written by publish or fleet', default: 'run.json' },
    brokers: { kind: 'list', help: 'Kafka bootstrap brokers', default: ['127.0.0.1:9092'] },
    topic: { kind: 'list', help: 'Kafka topic(s) to read', default: ['edge.uplink'] },
    timeout: { kind: 'number', help: 'seconds without new records before giving up', default: 60, min: 0.1 },
    latency: {
      kind: 'string',
      help: 'latency end point: Kafka record timestamp or time of reading',
      default: 'append',
      choices: ['append', 'consume'],
    },
    from: {
      kind: 'string',
      help: 'start reading at the beginning, or 5 min before the run started (skips older runs)',
      default: 'beginning',
      choices: ['beginning', 'ledger'],
    },
    json: { kind: 'boolean', help: 'print the report as JSON on stdout' },
    devices: { kind: 'int', help: 'per-device rows to show (devices with problems first)', default: 20, min: 0 },
    quiet: { kind: 'boolean', help: 'no progress output', short: 'q' },
  },
  examples: [
    './gw sim verify --ledger run.json --brokers 127.0.0.1:9092 --topic edge.uplink',
    './gw sim verify --ledger run.json --topic edge.uplink,message_state --json > report.json',
  ],
});

async function verifyMain(o: Options<typeof info.options>): Promise<number> {
  for (const b of o.brokers) if (!/^[^\s:]+:\d+$/.test(b)) throw new UsageError(`--brokers: "${b}" is not host:port`);
  let lastShown = 0;
  const quiet = o.quiet || o.json;
  const report = await runVerify({
    ledger: o.ledger,
    brokers: o.brokers,
    topics: o.topic,
    idleTimeoutMs: o.timeout * 1000,
    latencySource: o.latency,
    from: o.from,
    onProgress: (n) => {
      if (quiet || Date.now() - lastShown < 1000) return;
      lastShown = Date.now();
      process.stderr.write(`read ${n} records\n`);
    },
  });
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatReport(report, o.devices));
  return report.ok ? 0 : 1;
}

export const verifyCommand = defineCommand(info, verifyMain);
