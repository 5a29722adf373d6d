// `device-sim chaos`: a scenario of timed faults while a fleet runs, ending with the verify report.
import { writeFile } from 'node:fs/promises';
import { commandInfo, defineCommand, type Options, UsageError } from '../args.ts';
import { failoverRows, formatFailover } from '../chaos/failover-figures.ts';
import { formatGatewayFleet, gatewayFleetRows } from '../chaos/fleet-figures.ts';
import { formatPower } from '../chaos/power.ts';
import { runChaos } from '../chaos/run.ts';
import { loadScenario, type Scenario, ScenarioError } from '../chaos/scenario.ts';
import { withDurability } from '../chaos/scenario-load.ts';
import { renderHtml } from '../report-html.ts';
import { formatFigures, formatReport } from '../report-text.ts';

const info = commandInfo({
  name: 'chaos',
  summary:
    'timed faults (Kafka stop, gateway SIGKILL, blackhole, latency, power cut) while a fleet runs; ends with verify',
  usage: './gw sim chaos --scenario device-sim/scenarios/ci-short.yaml [--ledger chaos.json] [--html chaos.html]',
  options: {
    scenario: { kind: 'string', help: 'scenario file (YAML)', required: true, short: 's' },
    ledger: { kind: 'string', help: 'write the run ledger here', default: 'chaos.json' },
    html: { kind: 'string', help: 'write an HTML report with charts and the fault timeline here' },
    json: { kind: 'boolean', help: 'print the result as JSON on stdout: verify report, figures, checks, gauges' },
    quiet: { kind: 'boolean', help: 'no progress output', short: 'q' },
    durability: {
      kind: 'string',
      help: "the gateway's store.durability instead of the scenario's (os: a power cut loses what was acknowledged)",
      choices: ['fsync', 'os'],
    },
    'same-gateway-id': {
      kind: 'boolean',
      help: 'gateways: N: one configured id for every gateway instead of its own (the run must then fail)',
    },
  },
  examples: [
    './gw sim chaos -s device-sim/scenarios/ci-short.yaml --html chaos.html',
    './gw sim chaos -s device-sim/scenarios/fleet-ci.yaml',
  ],
});

async function readScenario(path: string): Promise<Scenario> {
  try {
    return await loadScenario(path);
  } catch (err) {
    if (err instanceof ScenarioError) throw new UsageError(`${path}:\n  ${err.problems.join('\n  ')}`);
    throw new UsageError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function chaosMain(o: Options<typeof info.options>): Promise<number> {
  const scenario = withDurability(await readScenario(o.scenario), o.durability);
  if (o['same-gateway-id'] && scenario.gateways === undefined) {
    throw new UsageError('--same-gateway-id: only for a scenario with gateways: N');
  }
  const res = await runChaos(scenario, { ledger: o.ledger, quiet: o.quiet, sameId: o['same-gateway-id'] });
  const tables = [
    ...(res.failover ? [{ title: 'Kafka cluster failover', rows: failoverRows(res.failover) }] : []),
    ...(res.gatewayFleet ? [{ title: 'Fleet of gateways', rows: gatewayFleetRows(res.gatewayFleet) }] : []),
  ];
  if (o.html) {
    await writeFile(
      o.html,
      renderHtml({
        title: `chaos: ${scenario.name}`,
        ledger: res.ledger,
        samples: res.samples,
        verify: res.report,
        marks: res.events,
        gauges: res.gauges,
        figures: res.figures,
        checks: res.checks,
        stats: { gateway_starts: res.gatewayStarts },
        ...(tables.length ? { tables } : {}),
      }),
    );
  }
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ scenario: scenario.name, ok: res.ok, events: res.events, report: res.report, figures: res.figures, checks: res.checks, power: res.power, failover: res.failover, gatewayFleet: res.gatewayFleet, gauges: res.gauges }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      `chaos ${scenario.name}: ${res.events.map((e) => `${(e.t / 1000).toFixed(0)}s ${e.label}`).join(' · ')}\n`,
    );
    process.stdout.write(formatReport(res.report));
    if (res.gatewayFleet?.gateways.some((g) => g.wipes.some((w) => w.lostWithVolume > 0))) {
      process.stdout.write(
        'Over the whole fleet, messages gone with a wiped volume count as lost above; the fleet figures below tell ' +
          'them apart and decide the result.\n',
      );
    }
    process.stdout.write(formatFigures(res.figures, res.checks));
    if (res.power) process.stdout.write(formatPower(res.power));
    if (res.failover) process.stdout.write(formatFailover(res.failover));
    if (res.gatewayFleet) process.stdout.write(formatGatewayFleet(res.gatewayFleet));
  }
  return res.ok ? 0 : 1;
}

export const chaosCommand = defineCommand(info, chaosMain);
