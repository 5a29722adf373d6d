#!/usr/bin/env node
// device-sim: drives simulated devices against the gateway and checks, by reading Kafka, that nothing was lost.
// Subcommands live in commands/*.ts; each exports its option specs (CommandInfo) and a main taking parsed options.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CommandInfo, helpText, type ParsedOptions, parseOptions, UsageError } from './args.ts';

interface Command {
  summary: string;
  info: () => Promise<CommandInfo>;
  main: (o: ParsedOptions) => Promise<number>;
}

// Loaded lazily so `device-sim verify` does not pay for loading the MQTT client and the reverse.
const commands: Record<string, Command> = {
  publish: {
    summary: 'N clients × M sequenced messages; writes a run ledger of what was acknowledged',
    info: async () => (await import('./commands/publish.ts')).publishCommand,
    main: async (o) => (await import('./commands/publish.ts')).publishMain(o),
  },
  verify: {
    summary: 'read Kafka and check it against a ledger: lost, duplicated, out of order, latency',
    info: async () => (await import('./commands/verify.ts')).verifyCommand,
    main: async (o) => (await import('./commands/verify.ts')).verifyMain(o),
  },
  fleet: {
    summary: 'a fleet of profile-driven devices (door-lock, vehicle, factory-sensor, logistics-tracker)',
    info: async () => (await import('./commands/fleet.ts')).fleetCommand,
    main: async (o) => (await import('./commands/fleet.ts')).fleetMain(o),
  },
  chaos: {
    summary: 'timed faults while a fleet runs (Kafka stop, gateway SIGKILL, blackhole, latency), then verify',
    info: async () => (await import('./commands/chaos.ts')).chaosCommand,
    main: async (o) => (await import('./commands/chaos.ts')).chaosMain(o),
  },
  modbus: {
    summary: 'a Modbus slave (TCP, or RTU on a pty) whose registers follow a device profile',
    info: async () => (await import('./commands/field.ts')).modbusCommand,
    main: async (o) => (await import('./commands/field.ts')).modbusMain(o),
  },
  serial: {
    summary: 'a GPS receiver writing NMEA on a pty or serial device',
    info: async () => (await import('./commands/field.ts')).serialCommand,
    main: async (o) => (await import('./commands/field.ts')).serialMain(o),
  },
  broker: {
    summary: 'a plain in-memory MQTT broker, to try the simulator without a gateway',
    info: async () => (await import('./commands/fleet.ts')).brokerCommand,
    main: async (o) => (await import('./commands/fleet.ts')).brokerMain(o),
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

/** Runs the CLI; returns the exit code (2 for usage errors). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`device-sim: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const info = await cmd.info();
  let opts: ParsedOptions & { help?: boolean };
  try {
    opts = parseOptions(rest, info.options);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`device-sim ${name}: ${err.message.split('\n').join(`\ndevice-sim ${name}: `)}\n`);
      process.stderr.write(`run './gw sim ${name} --help' for usage\n`);
      return 2;
    }
    throw err;
  }
  if (opts.help) {
    process.stdout.write(helpText(info));
    return 0;
  }
  try {
    return await cmd.main(opts);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`device-sim ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`device-sim ${name}: ${(err as Error).stack ?? String(err)}\n`);
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
