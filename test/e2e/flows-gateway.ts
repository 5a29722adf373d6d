// The gateway with the embedded flows part, as gateway/main.ts composes it, for the flows crash test:
//   node test/e2e/flows-gateway.ts [--config file]
import { pino } from 'pino';
import { FlowRuntime } from '../../flows/runtime.ts';
import { loadConfig } from '../../gateway/config/index.ts';
import { Gateway } from '../../gateway/gateway.ts';

const config = loadConfig({ argv: process.argv.slice(2) });
const log = pino({ level: config.log.level, base: { svc: 'edge-gateway' } });
const gw = new Gateway(config, log).use((g) =>
  g.config.flows.enabled
    ? new FlowRuntime({
        config: g.config.flows,
        bus: g.ingest,
        log: g.log,
        metrics: g.registry,
        app: g.http.app,
        server: g.http.server,
        dataDir: g.dataDir,
      })
    : undefined,
);
process.once('SIGTERM', () => {
  gw.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await gw.start();
