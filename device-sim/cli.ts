#!/usr/bin/env node
// device-sim: drives simulated devices against the gateway and checks, by reading Kafka, that nothing was lost.
// Subcommands live in commands/*.ts; each exports a Command: its option table and a main taking the typed options.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Command, HELP, helpText, UsageError } from './args.ts';

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

// Loaded lazily so `device-sim verify` does not pay for loading the MQTT client and the reverse.
const commands: Record<string, Entry> = {
  publish: {
    summary: 'N clients × M sequenced messages; writes a run ledger of what was acknowledged',
    load: async () => (await import('./commands/publish.ts')).publishCommand,
  },
  verify: {
    summary: 'read Kafka and check it against a ledger: lost, duplicated, out of order, latency',
    load: async () => (await import('./commands/verify.ts')).verifyCommand,
  },
  fleet: {
    summary: 'a fleet of profile-driven devices (door-lock, vehicle, factory-sensor, logistics-tracker)',
    load: async () => (await import('./commands/fleet.ts')).fleetCommand,
  },
  chaos: {
    summary: 'timed faults while a fleet runs (Kafka stop, gateway SIGKILL, blackhole, latency), then verify',
    load: async () => (await import('./commands/chaos.ts')).chaosCommand,
  },
  modbus: {
    summary: 'a Modbus slave (TCP, or RTU on a pty) whose registers follow a device profile',
    load: async () => (await import('./commands/field.ts')).modbusCommand,
  },
  serial: {
    summary: 'a GPS receiver writing NMEA on a pty or serial device',
    load: async () => (await import('./commands/field.ts')).serialCommand,
  },
  broker: {
    summary: 'a plain in-memory MQTT broker, to try the simulator without a gateway',
    load: async () => (await import('./commands/fleet.ts')).brokerCommand,
  },
};

function usage(): string {
  return [
    'usage: ./gw sim <command> [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`),
    '',
    "run './gw sim <command> --help' for the options of a command",
    '',
  ].join('\n');
}

/** Checks the command line; returns the run, or the exit code when there is nothing to run. */
function prepare(name: string, cmd: Command, argv: string[]): (() => Promise<number>) | number {
  try {
    const run = cmd.parse(argv);
    if (run !== HELP) return run;
    process.stdout.write(helpText(cmd.info));
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`device-sim ${name}: ${err.message.split('\n').join(`\ndevice-sim ${name}: `)}\n`);
    process.stderr.write(`run './gw sim ${name} --help' for usage\n`);
    return 2;
  }
}

/** Runs the CLI; returns the exit code (2 for usage errors). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`device-sim: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const run = prepare(name, await entry.load(), rest);
  if (typeof run === 'number') return run;
  try {
    return await run();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`device-sim ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`device-sim ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // kafkajs 2.2.4 arms timers with negative delays on Node 24; the warning says nothing about the run.
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name !== 'TimeoutNegativeWarning') process.stderr.write(`${w.name}: ${w.message}\n`);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`device-sim: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
