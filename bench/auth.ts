#!/usr/bin/env node
// `./gw bench auth`: durable QoS 1 ingest with authentication and ACLs on (every connection signs in with an HMAC
// signature, the per-device ACL template checks every publish) against the same gateway without them, in the same
// run. Runs alternate between the two gateways and the table shows the median of each.
// All traffic stays on 127.0.0.1. Options: --clients 100 --messages 2000 (per client) --runs 5
import { cpus } from 'node:os';
import { GatewayProcess } from '../test/harness/gateway-process.ts';
import { freePort } from '../test/harness/kafka.ts';
import { arg, medianBy, type PubResult, publish as publishRaw } from './lib/cli.ts';

const CLIENTS = arg('clients', 100);
const PER_CLIENT = arg('messages', 2000);
const RUNS = arg('runs', 5);
const KEY = 'bench:bench-secret';

const publish = (port: number, env: Record<string, string>): Promise<PubResult> =>
  publishRaw(port, { clients: CLIENTS, perClient: PER_CLIENT, env });

const SECURED = `
security:
  authentication:
    order: [signature]
    signature:
      keys: [{ accessKey: bench, secret: bench-secret }]
      algorithms: [sha256]
    backoff: { failures: 1000 }
  authorization:
    template: per-device
`;

const median = (rs: PubResult[]): PubResult => medianBy(rs, (r) => r.rate);
const unreachable = `127.0.0.1:${await freePort()}`;
const env = { GATEWAY_FLOWS_ENABLED: 'false', GATEWAY_KAFKA_BROKERS: unreachable };
const open = await GatewayProcess.create({ env });
const secured = await GatewayProcess.create({ env, configYaml: SECURED });
try {
  await open.start();
  await secured.start();
  const plain: PubResult[] = [];
  const auth: PubResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    plain.push(await publish(open.mqttPort, {}));
    auth.push(await publish(secured.mqttPort, { BENCH_SIGNATURE_KEY: KEY }));
    console.error(
      `  run ${i + 1}: without ${Math.round(plain[i]!.rate)} msg/s, with ${Math.round(auth[i]!.rate)} msg/s`,
    );
  }
  const expected = CLIENTS * PER_CLIENT;
  if (auth.some((r) => r.acked !== expected) || plain.some((r) => r.acked !== expected)) {
    throw new Error(`a run was not fully acknowledged (expected ${expected} per run)`);
  }
  const denied = await secured.metric('gateway_acl_denied_total', { action: 'publish' });
  const refused = await secured.metric('gateway_auth_failures_total');
  const a = median(auth);
  const b = median(plain);
  const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}`);
  console.log(`${CLIENTS} publishers x ${PER_CLIENT} QoS 1 messages of 256 bytes, median of ${RUNS} alternating runs`);
  console.log('| measure | with authentication + ACL | without (baseline) | ratio | target |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(`| durable ingest (msg/s) | ${f0(a.rate)} | ${f0(b.rate)} | ${(a.rate / b.rate).toFixed(2)} | >= 0.90 |`);
  console.log(
    `| PUBACK p50 / p99 (ms) | ${a.p50.toFixed(2)} / ${a.p99.toFixed(2)} | ${b.p50.toFixed(2)} / ${b.p99.toFixed(2)} | | |`,
  );
  console.log(`auth refusals ${refused}, ACL publish denials ${denied} (both should be 0)`);
} finally {
  await secured.close();
  await open.close();
}
