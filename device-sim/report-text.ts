// The verify report as a table for people.
import type { DeviceReport, VerifyReport } from './analyze.ts';
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
