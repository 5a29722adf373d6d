// `device-sim fleet`: profile-driven devices with a run ledger, progress, and an optional HTML report.
import { writeFile } from 'node:fs/promises';
import { commandInfo, defineCommand, type Options, qosOf, UsageError } from '../args.ts';
import { type FleetOptions, runFleet } from '../fleet.ts';
import { ledgerTotals } from '../ledger.ts';
import { PROFILE_NAMES } from '../profiles/index.ts';
import { renderHtml } from '../report-html.ts';
import { checkUrl } from './publish.ts';

const fleetInfo = commandInfo({
  name: 'fleet',
  summary: 'run a fleet of profile-driven devices and record what was acknowledged',
  usage:
    './gw sim fleet [--devices 100] [--profile door-lock,vehicle] [--duration 60 | --count 100] [--ledger fleet.json]',
  options: {
    url: { kind: 'string', help: 'broker URL', default: 'mqtt://127.0.0.1:1883' },
    devices: { kind: 'int', help: 'number of devices', default: 100, min: 1, max: 200_000, short: 'd' },
    profile: {
      kind: 'list',
      help: 'device profiles, assigned round-robin',
      default: [...PROFILE_NAMES],
      choices: PROFILE_NAMES,
      short: 'p',
    },
    duration: { kind: 'number', help: 'seconds to generate messages (0 = until --count)', default: 60, min: 0 },
    count: { kind: 'int', help: 'stop each device after this many messages', min: 1 },
    interval: { kind: 'number', help: 'ms between ticks per device (default: the profile’s)', min: 1 },
    rate: { kind: 'number', help: 'total ticks per second over the fleet (overrides --interval)', min: 0.001 },
    jitter: { kind: 'number', help: 'random spread of intervals, as a fraction', default: 0.2, min: 0, max: 1 },
    qos: { kind: 'int', help: 'MQTT QoS', default: 1, min: 0, max: 2 },
    clean: { kind: 'boolean', help: 'clean sessions (default: persistent)' },
    churn: {
      kind: 'number',
      help: 'fraction of devices per minute that drop their link for 1–10 s',
      default: 0,
      min: 0,
    },
    'connect-rate': { kind: 'number', help: 'new connections per second at start', default: 500, min: 1 },
    inflight: { kind: 'int', help: 'unacknowledged publishes per device', default: 5, min: 1, max: 65_535 },
    queue: { kind: 'int', help: 'messages a device buffers while it cannot send', default: 10_000, min: 1 },
    offline: { kind: 'number', help: 'scale of the profiles’ offline periods (0 = none)', default: 1, min: 0 },
    seed: { kind: 'int', help: 'random seed (same seed, same fleet)' },
    ledger: { kind: 'string', help: 'write the run ledger (JSON) here', default: 'fleet.json' },
    html: { kind: 'string', help: 'write an HTML report with charts here' },
    'drain-timeout': {
      kind: 'number',
      help: 'seconds to wait for queued and in-flight messages at the end',
      default: 60,
      min: 0,
    },
    quiet: { kind: 'boolean', help: 'no progress output', short: 'q' },
  },
  examples: [
    './gw sim fleet --devices 1000 --profile vehicle --duration 120 --ledger fleet.json --html fleet.html',
    './gw sim fleet --devices 10000 --rate 2000 --profile door-lock,factory-sensor --churn 0.05',
    './gw sim verify --ledger fleet.json --topic edge.uplink',
  ],
});

type FleetArgs = Options<typeof fleetInfo.options>;

function fleetOptions(o: FleetArgs, signal: AbortSignal): FleetOptions {
  return {
    url: o.url,
    devices: o.devices,
    profiles: o.profile,
    ...(o.duration > 0 ? { durationMs: o.duration * 1000 } : {}),
    ...(o.count !== undefined ? { count: o.count } : {}),
    ...(o.interval !== undefined ? { intervalMs: o.interval } : {}),
    ...(o.rate !== undefined ? { rate: o.rate } : {}),
    jitter: o.jitter,
    qos: qosOf(o.qos),
    clean: o.clean,
    churn: o.churn,
    connectRate: o['connect-rate'],
    inflight: o.inflight,
    queueMax: o.queue,
    offlineScale: o.offline,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ledger: o.ledger,
    quiet: o.quiet,
    drainTimeoutMs: o['drain-timeout'] * 1000,
    signal,
  };
}

async function fleetMain(o: FleetArgs): Promise<number> {
  checkUrl(o.url);
  if (o.duration === 0 && o.count === undefined) throw new UsageError('give --duration or --count');
  const ac = new AbortController();
  const onSignal = (): void => {
    process.stderr.write('stopping: draining queued and in-flight messages (Ctrl-C again to quit now)\n');
    process.once('SIGINT', () => process.exit(130));
    ac.abort();
  };
  process.once('SIGINT', onSignal);
  const res = await runFleet(fleetOptions(o, ac.signal));
  process.off('SIGINT', onSignal);
  const t = ledgerTotals(res.ledger);
  const secs = (res.ledger.endedAt - res.ledger.startedAt) / 1000;
  const s = res.stats;
  process.stderr.write(
    `run ${res.ledger.runId}: ${t.devices} devices, sent ${t.sent}, acked ${t.acked} in ${secs.toFixed(1)} s; ` +
      `commands answered ${s.commands}, offline periods ${s.offlinePeriods}, churned ${s.churned}, ` +
      `re-sent ${s.retries}, dropped on devices ${s.droppedOnDevice}; ledger ${o.ledger}\n`,
  );
  if (o.html) {
    await writeFile(
      o.html,
      renderHtml({ title: `fleet run ${res.ledger.runId}`, ledger: res.ledger, samples: res.samples, stats: s }),
    );
    process.stderr.write(`report ${o.html}\n`);
  }
  return 0;
}

export const fleetCommand = defineCommand(fleetInfo, fleetMain);

const brokerInfo = commandInfo({
  name: 'broker',
  summary: 'run a plain in-memory MQTT broker (no persistence) to try the simulator without a gateway',
  usage: './gw sim broker [--port 1883]',
  options: {
    port: { kind: 'int', help: 'TCP port on 127.0.0.1 (0 = any free port)', default: 1883, min: 0, max: 65_535 },
  },
});

async function brokerMain(o: Options<typeof brokerInfo.options>): Promise<number> {
  const { startLocalBroker } = await import('../local-broker.ts');
  const b = await startLocalBroker(o.port);
  process.stdout.write(`${b.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await b.close();
  return 0;
}

export const brokerCommand = defineCommand(brokerInfo, brokerMain);
