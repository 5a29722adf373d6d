#!/usr/bin/env node
// `node gateway/main.ts [--config gateway.yaml]`: runs the gateway until SIGTERM/SIGINT.
// Without a config file it starts with embedded defaults and buffers until Kafka is reachable.
import { pino } from 'pino';
import { Downlink } from '../cloud-sync/downlink.ts';
import { Adapters } from './adapters/index.ts';
import { ConfigError, loadConfig, redactConfig } from './config/index.ts';
import { Gateway } from './gateway.ts';

const HELP = `edge-gateway: MQTT/serial/Modbus in, durable LevelDB outbox, Kafka out.

usage: node gateway/main.ts [--config <file.yaml>] [--check-config] [--print-config]

  --config <file>   YAML config (or GATEWAY_CONFIG); every key can be overridden by GATEWAY_<SECTION>_<KEY>
  --check-config    validate the config and exit (0 = valid)
  --print-config    print the effective config (secrets redacted) and exit
  -h, --help        this help

Configuration reference: docs/configuration.md`;

async function main(argv: string[]): Promise<void> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP);
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ argv });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`config error: ${p}`);
      process.exit(2);
    }
    throw err;
  }
  if (argv.includes('--print-config')) {
    console.log(JSON.stringify(redactConfig(config), null, 2));
    return;
  }
  if (argv.includes('--check-config')) {
    console.log('config ok');
    return;
  }
  const log = pino({ level: config.log.level, base: { svc: 'edge-gateway' } });
  // Node-RED is a large module tree: load it only when flows are on.
  const FlowRuntime = config.flows.enabled ? (await import('../flows/runtime.ts')).FlowRuntime : undefined;
  const gw = new Gateway(config, log)
    .use(
      (g) =>
        FlowRuntime
          ? new FlowRuntime({
              config: g.config.flows,
              bus: g.ingest,
              log: g.log, // the runtime adds { part: 'flows' }
              metrics: g.registry,
              app: g.http.app,
              server: g.http.server,
              dataDir: g.dataDir,
            })
          : undefined,
      'before-broker',
    )
    // Adapters subscribe to write commands through the broker: they start after it (the default stage).
    .use((g) =>
      g.config.adapters.serial.length + g.config.adapters.modbus.length > 0
        ? new Adapters({
            config: g.config.adapters,
            bus: g.ingest,
            log: g.log, // the adapters add { part: 'adapters' }
            metrics: g.registry,
          })
        : undefined,
    )
    .use((g) =>
      g.config.downlink.enabled
        ? new Downlink({
            brokers: g.config.kafka.brokers,
            clientId: g.config.kafka.clientId,
            groupId: g.config.downlink.groupId,
            topics: g.config.downlink.topics,
            mqttTopic: g.config.downlink.mqttTopic,
            qos: g.config.downlink.qos,
            ssl: g.config.kafka.ssl,
            sasl: g.config.kafka.sasl,
            bus: g.ingest,
            log: g.log.child({ part: 'downlink' }),
          })
        : undefined,
    );
  // A failed store write (disk full, I/O error) leaves LevelDB unsafe to write through the same handle. Nothing after
  // it was acknowledged; exit with EX_TEMPFAIL (75) so the supervisor (balena, systemd) starts a fresh process,
  // which reopens the store cleanly once there is space again.
  gw.onFatal = (err) => {
    log.fatal({ err: err.message }, 'store write failed: exiting so a fresh process reopens the store');
    console.error(`gateway stopping: GW_ERR_STORE: ${err.message}`);
    process.exit(75);
  };
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
        log.info('stopped');
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
}

await main(process.argv.slice(2));
