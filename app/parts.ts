// The parts beyond the gateway's core, in the stage they start at: flows before the broker accepts publishes (so a
// replayed or new message always finds its flow input), adapters and the downlink after it (they subscribe and
// publish through the broker), then the status page. Each optional part is built only when its config turns it on.
import { Downlink } from '../cloud-sync/downlink.ts';
import { Adapters } from '../gateway/adapters/index.ts';
import { registryCounters } from '../gateway/status/counters.ts';
import { StatusPart } from '../gateway/status/index.ts';
import type { Gateway } from './gateway.ts';

export async function withOptionalParts(gateway: Gateway): Promise<Gateway> {
  // Node-RED is a large module tree: load it only when flows are on.
  const FlowRuntime = gateway.config.flows.enabled ? (await import('../flows/runtime.ts')).FlowRuntime : undefined;
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
        g.config.downlink.enabled && g.kafka.brokers.length > 0
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
