// The verify report as a table for people, and a chaos run's gateway figures.
import type { DeviceReport, VerifyReport } from './analyze.ts';
import { formatLinks } from './chaos/link-figures.ts';
import type { CheckResult, RunFigures } from './chaos/outage.ts';
import { formatRanges } from './ranges.ts';

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const COLS = ['device', 'expected', 'found', 'lost', 'dup', 'dup new id', 'out of order', 'extra'];

function row(
  d: Pick<DeviceReport, 'expected' | 'found' | 'lost' | 'duplicates' | 'duplicatesNewId' | 'outOfOrder' | 'extra'>,
  name: string,
): (string | number)[] {
  return [name, d.expected, d.found, d.lost, d.duplicates, d.duplicatesNewId, d.outOfOrder, d.extra];
}

function problems(d: DeviceReport): number {
  return d.lost * 1e6 + d.outOfOrder * 1e3 + d.duplicates;
}

export function formatReport(r: VerifyReport, maxDevices = 20): string {
  const out: string[] = [];
  out.push(`run ${r.runId} · topics ${r.topics.join(',')} · read ${(r.readMs / 1000).toFixed(1)} s (${r.stoppedBy})`);
  const shown = r.devices
    .slice()
    .sort((a, b) => problems(b) - problems(a) || a.id.localeCompare(b.id))
    .slice(0, maxDevices);
  const rows = shown.map((d) => row(d, d.id));
  if (r.devices.length > shown.length)
    rows.push([`… ${r.devices.length - shown.length} more`, '', '', '', '', '', '', '']);
  rows.push(row(r.totals, `TOTAL (${r.totals.devices} devices)`));
  out.push('', table(COLS, rows), '');
  for (const d of shown) {
    if (d.lost) out.push(`lost ${d.id}: seq ${formatRanges(d.lostRanges)}`);
  }
  if (r.splitDevices.length) {
    out.push(`note: ${r.splitDevices.length} device(s) span several partitions; order checked per partition only`);
  }
  const ig = r.ignored;
  if (ig.otherRuns || ig.unknownDevices || ig.undecodable) {
    out.push(
      `ignored: ${ig.otherRuns} from other runs, ${ig.unknownDevices} unknown devices, ${ig.undecodable} not from the simulator`,
    );
  }
  if (r.latency) {
    const l = r.latency;
    out.push(
      `latency (publish → ${r.latencySource === 'append' ? 'Kafka timestamp' : 'read'}, ${l.count} msgs): ` +
        `p50 ${l.p50} ms  p95 ${l.p95} ms  p99 ${l.p99} ms  max ${l.max} ms`,
    );
  }
  if (r.totals.duplicatesNewId) {
    out.push(`${r.totals.duplicatesNewId} duplicate(s) carry a different gateway.msg_id than their original`);
  }
  const verdict = r.ok
    ? `OK: all ${r.totals.expected} acknowledged messages found, in order per device`
    : `FAIL: ${r.totals.lost} lost, ${r.totals.outOfOrder} out of order`;
  out.push(verdict, '');
  return out.join('\n');
}

const mb = (b: number | null): string => (b === null ? '?' : `${(b / 2 ** 20).toFixed(1)} MB`);

/** A chaos run's gateway figures: peaks, RSS, and for a Kafka outage the drain, the ETA error and live latency. */
export function formatFigures(f: RunFigures, checks: CheckResult[] = []): string {
  const out: string[] = [];
  out.push(
    `gateway: peak backlog ${f.peakBacklogRecords ?? '?'} records (${mb(f.peakBacklogBytes)}), ` +
      `peak on disk ${mb(f.peakDiskBytes)} of a ${mb(f.budgetBytes)} budget, ` +
      `RSS first ${mb(f.rss.first)} peak ${mb(f.rss.peak)} last ${mb(f.rss.last)} ` +
      `(anonymous first ${mb(f.anon.first)} peak ${mb(f.anon.peak)} last ${mb(f.anon.last)})`,
  );
  const o = f.outage;
  if (o) {
    const drain =
      o.drainSec === null ? 'did not get back to the level before' : `drained in ${o.drainSec.toFixed(1)} s`;
    const resumed = o.resumeSec === null ? '' : ` (forwarding resumed ${o.resumeSec.toFixed(1)} s after Kafka was up)`;
    out.push(
      `outage ${o.outageSec.toFixed(1)} s: backlog ${o.drainFromRecords} records at its peak, ${drain}${resumed}`,
    );
    for (const e of o.eta) {
      out.push(
        `  ETA at ${e.pct} % of the drain: ${e.etaSec ?? 'none'} s given (${e.etaToLevelSec ?? 'none'} s to the level before), ${e.actualSec.toFixed(1)} s actually left` +
          (e.errorPct === null ? '' : ` (error ${e.errorPct > 0 ? '+' : ''}${e.errorPct} %)`),
      );
    }
    const l = o.liveLatency;
    if (l)
      out.push(`  live latency during the drain (${l.count} msgs): p50 ${l.p50} ms  p99 ${l.p99} ms  max ${l.max} ms`);
  }
  if (f.links) out.push(...formatLinks(f.links));
  for (const c of checks) out.push(`check ${c.name}: ${c.ok ? 'OK' : 'FAIL'} (${c.detail})`);
  return `${out.join('\n')}\n`;
}
