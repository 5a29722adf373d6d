// What an operator reads from the real gateway process: with Kafka at a closed port /healthz names the cause and the
// broker ("connection refused by 127.0.0.1:<port>"), a stop with a backlog says how many records wait per class, and
// once the broker answers on that address the backlog drains with its rate and drain time shown and the error leaves
// kafka.lastError (kept in kafka.errors). /livez and /readyz answer behind the bearer token; the build, disk and
// store size metrics are there.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, expect, inject, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const TOKEN = `t-${randomBytes(8).toString('hex')}`;
const RECORDS = 1500;

interface Health {
  status: string;
  version: string;
  uptimeSec: number;
  startedAt: string;
  disk: { freeBytes: number; totalBytes: number; storeBytes: number };
  kafka: { link: string; lastError?: string; lastErrorAt?: string; errors: { error: string; count: number }[] };
  backlog: {
    records: number;
    inRate: number;
    outRate: number;
    drainEtaSec: number | null;
    drainState: string;
    classes: Record<string, { records: number }>;
  };
}

let gw: GatewayProcess | undefined;
let proxy: Server | undefined;
const sockets = new Set<Socket>();
afterAll(async () => {
  await gw?.close();
  for (const s of sockets) s.destroy();
  proxy?.close();
});

/** A TCP forwarder on `port` to the real broker: the address the gateway was given starts to answer. */
async function forward(port: number, to: string): Promise<Server> {
  const [host, p] = to.split(':') as [string, string];
  const srv = createServer((inbound) => {
    const outbound = tcpConnect(Number(p), host);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  return srv;
}

const get = (g: GatewayProcess, path: string, token = TOKEN) =>
  fetch(`http://127.0.0.1:${g.httpPort}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
const health = async (g: GatewayProcess): Promise<Health> => (await (await get(g, '/healthz')).json()) as Health;

it('names the Kafka cause, counts the buffered records at stop, and shows the drain once Kafka answers', async () => {
  const kafkaPort = await freePort(); // nothing listens here until forward() below
  const broker = `127.0.0.1:${kafkaPort}`;
  const topic = `e2e.health.${randomBytes(4).toString('hex')}`;
  gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: broker,
      GATEWAY_KAFKA_RETRY_INITIAL_MS: '200',
      GATEWAY_KAFKA_RETRY_MAX_MS: '1000',
      // One record per send: the drain takes long enough to be watched.
      GATEWAY_KAFKA_BATCH_MAX_RECORDS: '1',
      GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
      GATEWAY_SECURITY_HTTP_TOKEN: TOKEN,
    },
  });
  const g = gw;
  await g.start();

  // Liveness and readiness, behind the token; Kafka being down does not make the gateway unready.
  expect((await get(g, '/livez', '')).status).toBe(401);
  expect((await get(g, '/readyz', '')).status).toBe(401);
  expect((await get(g, '/livez')).status).toBe(200);
  const ready = await get(g, '/readyz');
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready' });

  await waitFor('the refused connection in /healthz', async () =>
    ((await health(g)).kafka.lastError ?? '').includes(`connection refused by ${broker}`),
  );
  const down = await health(g);
  expect(down.status).toBe('degraded');
  expect(down.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(down.uptimeSec).toBeGreaterThanOrEqual(0);
  expect(Date.parse(down.startedAt)).toBeLessThanOrEqual(Date.now());
  expect(down.disk.totalBytes).toBeGreaterThan(0);
  expect(down.disk.freeBytes).toBeGreaterThan(0);
  expect(down.disk.storeBytes).toBeGreaterThan(0);

  const metrics = await (await get(g, '/metrics')).text();
  expect(metrics).toMatch(/^gateway_build_info\{version="\d+\.\d+\.\d+[^"]*",node="\d+\.\d+\.\d+"\} 1$/m);
  for (const name of [
    'gateway_data_disk_free_bytes',
    'gateway_data_disk_total_bytes',
    'gateway_store_size_bytes',
    'nodejs_array_buffers_bytes',
    'process_start_time_seconds',
  ]) {
    expect(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]), name).toBeGreaterThan(0);
  }

  await runPublish({
    url: g.url,
    clients: 3,
    count: RECORDS / 3,
    qos: 1,
    topic: 'devices/{id}/telemetry',
    prefix: 'health',
    size: 64,
    inflight: 10,
    quiet: true,
  });
  const buffered = await health(g);
  expect(buffered.backlog.classes.default?.records).toBe(RECORDS);
  // Nothing is forwarded: no drain time to tell.
  expect(buffered.backlog.drainEtaSec).toBeNull();
  expect(buffered.backlog.drainState).toBe('link_down');
  expect(buffered.backlog.outRate).toBe(0);
  expect(buffered.backlog.inRate).toBeGreaterThan(0);

  // A stop with a backlog says what waits, per storage class.
  const mark = g.output.length;
  await g.stop();
  const stopLine = /"msg":"stopped with (\d+) records buffered: default=(\d+), events=(\d+)"/.exec(
    g.output.slice(mark),
  );
  expect(stopLine, g.tail).not.toBeNull();
  const [, total, inDefault, inEvents] = (stopLine ?? []).map(Number);
  expect(inDefault).toBe(RECORDS);
  expect(total).toBe(RECORDS + (inEvents ?? 0));

  // Started again on the same data dir, the broker still refusing; then its address answers.
  await g.start();
  await waitFor('the refused connection again', async () =>
    ((await health(g)).kafka.lastError ?? '').includes(`connection refused by ${broker}`),
  );
  proxy = await forward(kafkaPort, inject('kafkaBrokers')[0] as string);

  let sawDrain: Health | undefined;
  await waitFor(
    'the backlog drained',
    async () => {
      const h = await health(g);
      // The ETA needs 5 s of rates since the link came up; a drain this small may be over sooner (`measuring`).
      const told =
        h.backlog.drainState === 'draining' ? (h.backlog.drainEtaSec ?? 0) > 0 : h.backlog.drainState === 'measuring';
      if (h.backlog.records > 0 && h.backlog.outRate > 0 && told) sawDrain ??= h;
      return h.backlog.records === 0;
    },
    180_000,
    100,
  );
  expect(sawDrain, 'a /healthz with records left, an out rate and a drain time (or measuring)').toBeDefined();
  expect(sawDrain?.kafka.link).toBe('up');
  expect(sawDrain?.kafka.lastError).toBeUndefined();

  const up = await health(g);
  expect(up.status).toBe('ok');
  expect(up.kafka.link).toBe('up');
  // The outage is over: no error next to `ok`, but it is still in the history.
  expect(up.kafka.lastError).toBeUndefined();
  expect(up.kafka.errors[0]?.error).toContain(`connection refused by ${broker}`);
  expect(up.backlog.drainEtaSec).toBe(0);
  expect(up.backlog.drainState).toBe('empty');
  expect(up.backlog.outRate).toBeGreaterThan(0);
}, 300_000);
