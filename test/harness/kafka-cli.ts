#!/usr/bin/env node
// `./gw kafka [--port N] [--fresh]`: a local single-node Kafka on 127.0.0.1 for trying the gateway by hand.
// Data stays in .cache/kafka/local between runs unless --fresh; Ctrl-C stops it.
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closest } from '../../app/config/validate.ts';
import { LocalKafka, repoRoot } from './kafka.ts';

const HELP = `usage: ./gw kafka [--port N] [--fresh] [--data-dir DIR]

A local single-node Apache Kafka 4.1 (KRaft) on 127.0.0.1, run from its Maven Central jars with Java 17.
Topics are created on first use. Ctrl-C stops it.

  --port N          client port (default 9092, or KAFKA_PORT)
  --fresh           start with no topics and no records (wipes the data dir first)
  --data-dir DIR    where Kafka keeps its data (default .cache/kafka/local, or KAFKA_DATA_DIR)
  --verbose         print Kafka's own log (or KAFKA_VERBOSE=1)
  -h, --help        this help`;

const OPTIONS = {
  port: { type: 'string' },
  fresh: { type: 'boolean' },
  'data-dir': { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function fail(message: string): never {
  console.error(`./gw kafka: ${message}\nrun ./gw kafka --help for the options`);
  process.exit(2);
}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const bad = /'(-[^']*)'/.exec(e.message)?.[1] ?? '';
      const hint = closest(bad.replace(/^-+/, '').split('=')[0] ?? '', Object.keys(OPTIONS));
      fail(`unknown option ${bad}${hint ? ` (did you mean --${hint}?)` : ''}`);
    }
    fail(e.message);
  }
}

async function portFree(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

const args = parse(process.argv.slice(2));
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const portText = args.port ?? process.env.KAFKA_PORT ?? '9092';
const port = Number(portText);
if (!/^\d+$/.test(portText) || port < 1 || port > 65535) fail(`--port: "${portText}" is not a port (1-65535)`);
if (!(await portFree(port))) fail(`port ${port} on 127.0.0.1 is in use (another Kafka?): pick another with --port N`);
const dataDir = args['data-dir'] ?? process.env.KAFKA_DATA_DIR ?? join(repoRoot, '.cache', 'kafka', 'local');
if (args.fresh) rmSync(dataDir, { recursive: true, force: true });
console.log(`starting Kafka on 127.0.0.1:${port} (data: ${dataDir}${args.fresh ? ', fresh' : ''}) ...`);
const kafka = await LocalKafka.start({
  port,
  dataDir,
  verbose: args.verbose ?? Boolean(process.env.KAFKA_VERBOSE),
});
console.log(`Kafka ready on ${kafka.brokers.join(',')}; Ctrl-C to stop`);
const stop = async (): Promise<void> => {
  await kafka.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
