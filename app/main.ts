#!/usr/bin/env node
// The gateway's own command line (`./gw start`, or `node app/main.ts` with Node 24): runs the gateway until
// SIGTERM/SIGINT. Without a config file it starts with embedded defaults and buffers until Kafka is reachable.
import { parseArgs } from 'node:util';
import { type Logger, pino } from 'pino';
import { ConfigError, loadConfig, redactConfig } from './config/index.ts';
import { closest } from './config/validate.ts';
import { Gateway } from './gateway.ts';
import { compactHeap } from './heap.ts';
import { optionalModule, withOptionalParts } from './parts.ts';

const HELP = `edge-gateway: MQTT/serial/Modbus in, durable LevelDB outbox, Kafka out.

usage: ./gw start [--config <file.yaml>] [--pretty]  (or: node app/main.ts [options], with Node 24)
       ./gw check-config [--config <file.yaml>]
       ./gw print-config [--config <file.yaml>]

  --config <file>   YAML config (or GATEWAY_CONFIG); every key can be overridden by GATEWAY_<SECTION>_<KEY>
  --check-config    validate the config and exit: 0 valid, 2 invalid (one line per problem, naming the key)
  --print-config    print the effective config (secrets redacted) and exit
  --pretty          log one readable line per entry (log.pretty: on); default: pretty only on a terminal, not in CI
  -h, --help        this help

An unknown option exits with status 2. Configuration reference: docs/configuration.md`;

const OPTIONS = {
  config: { type: 'string' },
  'check-config': { type: 'boolean' },
  'print-config': { type: 'boolean' },
  pretty: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** How long after the start the heap is compacted once. */
const COMPACT_AFTER_MS = 5000;

type Args = { config?: string; checkConfig: boolean; printConfig: boolean; pretty: boolean; help: boolean };

/** Strict parsing: a misspelt option must never fall through to starting the gateway on its defaults. */
function parseCommandLine(argv: string[]): Args | { error: string } {
  try {
    const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
    if (values.config === '') return { error: '--config needs a file path' };
    return {
      config: values.config,
      checkConfig: values['check-config'] ?? false,
      printConfig: values['print-config'] ?? false,
      pretty: values.pretty ?? false,
      help: values.help ?? false,
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const bad = /'(-[^']*)'/.exec((err as Error).message)?.[1] ?? '';
      const name = bad.replace(/^-+/, '').split('=')[0] ?? '';
      const hint = closest(name, Object.keys(OPTIONS));
      return { error: `unknown option ${bad}${hint ? ` (did you mean --${hint}?)` : ''}` };
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      return { error: /--config/.test((err as Error).message) ? '--config needs a file path' : (err as Error).message };
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec((err as Error).message)?.[1] ?? '';
      return { error: `unexpected argument '${arg}' (a config file is given as --config ${arg})` };
    }
    throw err;
  }
}

/** JSON lines for collectors; one readable line per entry on a terminal (log.pretty, --pretty). pino-pretty is
 * loaded only then. */
async function createLogger(config: ReturnType<typeof loadConfig>, prettyFlag: boolean): Promise<Logger> {
  const mode = prettyFlag ? 'on' : config.log.pretty;
  const tty = process.stdout.isTTY === true;
  const on = mode === 'on' || (mode === 'auto' && tty && !process.env.CI);
  const opts = { level: config.log.level, base: { svc: 'edge-gateway' } };
  if (!on) return pino(opts);
  // In-process and synchronous: the last line before an exit is written, and no worker thread is started.
  const { default: pretty } = await optionalModule('log.pretty', () => import('pino-pretty'));
  const stream = pretty({
    errorLikeObjectKeys: [],
    sync: true,
    singleLine: true,
    colorize: tty,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,svc',
  });
  return pino(opts, stream);
}

/** "stopped with N records buffered: default=…, events=…": what waits for Kafka on the next start. */
function stoppedLine(gw: Gateway): string {
  const classes = gw.store ? [...gw.store.outbox.classes.values()] : [];
  const total = classes.reduce((n, c) => n + c.count, 0);
  return `stopped with ${total} records buffered: ${classes.map((c) => `${c.name}=${c.count}`).join(', ') || 'none'}`;
}

async function main(argv: string[]): Promise<void> {
  const args = parseCommandLine(argv);
  if ('error' in args) {
    console.error(`edge-gateway: ${args.error}\nrun with --help for the options`);
    process.exit(2);
  }
  if (args.help) {
    console.log(HELP);
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ argv: args.config === undefined ? [] : ['--config', args.config] });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`config error: ${p}`);
      process.exit(2);
    }
    throw err;
  }
  if (args.printConfig) {
    console.log(JSON.stringify(redactConfig(config), null, 2));
    return;
  }
  if (args.checkConfig) {
    console.log('config ok');
    return;
  }
  let log: Logger;
  let gw: Gateway;
  try {
    log = await createLogger(config, args.pretty);
    gw = await withOptionalParts(new Gateway(config, log));
  } catch (err) {
    // A coded error (a missing optional module, a bad setting) is one line; anything else keeps its stack.
    const e = err as Error & { code?: string };
    console.error(`gateway failed to start: ${e.code ? `${e.code}: ${e.message}` : (e.stack ?? e.message)}`);
    process.exit(1);
  }
  // A failed store write (disk full, I/O error) leaves LevelDB unsafe to write through the same handle. Nothing after
  // it was acknowledged; exit with EX_TEMPFAIL (75) so the supervisor (balena, systemd) starts a fresh process,
  // which reopens the store cleanly once there is space again.
  gw.on('fatal', (err) => {
    log.fatal({ err: err.message }, 'store write failed: exiting so a fresh process reopens the store');
    console.error(`gateway stopping: GW_ERR_STORE: ${err.message}`);
    process.exit(75);
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      log.error('stop took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    gw.stop().then(
      () => {
        log.info(stoppedLine(gw));
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await gw.start();
  } catch (err) {
    const e = err as Error & { code?: string };
    log.fatal({ err: { message: e.message, code: e.code } }, 'gateway failed to start');
    console.error(`gateway failed to start: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    await gw.stop();
    process.exit(1);
  }
  // Once the start has settled (the Kafka client is loaded when the forwarder first connects, just after the start),
  // the memory that loading took is given back (app/heap.ts).
  setTimeout(() => {
    if (stopping) return;
    const c = compactHeap();
    if ('skipped' in c) log.info({ reason: c.skipped }, 'heap compaction after start skipped');
    else log.info(c, 'heap compacted after start');
  }, COMPACT_AFTER_MS).unref();
}

await main(process.argv.slice(2));
