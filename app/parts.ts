// The parts beyond the gateway's core, in the stage they start at: flows before the broker accepts publishes (so a
// replayed or new message always finds its flow input), adapters and the downlink after it (they subscribe and
// publish through the broker), then the status page. Each optional part is built only when its config turns it on,
// and its modules (Node-RED, serialport and modbus-serial, the downlink's Kafka source) are loaded only then.
import { GatewayError } from '../gateway/errors.ts';
import { registryCounters } from '../gateway/status/counters.ts';
import { StatusPart } from '../gateway/status/index.ts';
import type { Gateway } from './gateway.ts';

/** Loads an optional part's module; a package that is not installed is one error naming the setting that needs it. */
export async function optionalModule<T>(key: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    const what = /Cannot find (?:package|module) '([^']+)'/.exec((err as Error).message)?.[1] ?? (err as Error).message;
    throw new GatewayError('GW_ERR_CONFIG', `${key} needs ${what}, which is not installed (npm ci installs it)`, {
      cause: err,
    });
  }
}

export async function withOptionalParts(gateway: Gateway): Promise<Gateway> {
  const c = gateway.config;
  const FlowRuntime = c.flows.enabled
    ? (await optionalModule('flows.enabled', () => import('../flows/runtime.ts'))).FlowRuntime
    : undefined;
  const Adapters =
    c.adapters.serial.length + c.adapters.modbus.length > 0
      ? (await optionalModule('adapters', () => import('../gateway/adapters/index.ts'))).Adapters
      : undefined;
  // Built only with Kafka brokers configured too (known once the gateway starts).
  const Downlink = c.downlink.enabled
    ? (await optionalModule('downlink.enabled', () => import('../cloud-sync/downlink.ts'))).Downlink
    : undefined;
  return (
    gateway
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
                security: g.config.security.editor,
              })
            : undefined,
        'before-broker',
      )
      // Adapters subscribe to write commands through the broker: they start after it (the default stage).
      .use((g) =>
        Adapters
          ? new Adapters({
              config: g.config.adapters,
              bus: g.ingest,
              log: g.log, // the adapters add { part: 'adapters' }
              metrics: g.registry,
            })
          : undefined,
      )
      .use((g) =>
        Downlink && g.kafka.brokers.length > 0
          ? new Downlink({
              client: g.config.kafka.client,
              brokers: g.config.kafka.brokers,
              clientId: g.config.kafka.clientId,
              requestTimeoutMs: g.config.kafka.requestTimeoutMs,
              groupId: g.config.downlink.groupId,
              topics: g.config.downlink.topics,
              mqttTopic: g.config.downlink.mqttTopic,
              qos: g.config.downlink.qos,
              ttlSec: g.config.downlink.ttlSec,
              commands: g.commands,
              tls: g.kafka.tls,
              sasl: g.kafka.sasl,
              bus: g.ingest,
              log: g.log.child({ part: 'downlink' }),
              metrics: g.registry,
            })
          : undefined,
      )
      // The operator status page at / (docs/status-page.md).
      .use(
        (g) =>
          new StatusPart({
            app: g.http.app,
            route: (path, handler) => g.http.route(path, handler),
            health: () => g.health(),
            counters: registryCounters(g.registry),
            devices: g.devices,
            events: g.broker,
            tokenSet: g.config.security.http.token !== '',
            log: g.log.child({ part: 'status' }),
          }),
      )
  );
}
