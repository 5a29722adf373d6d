#!/usr/bin/env node
// `./gw bench events`: durable QoS 1 ingest while 1,000 other devices connect and disconnect continuously, on a
// gateway with client events on (each connect and disconnect a durable record for Kafka) against the same gateway
// with `events.enabled: false`, in the same run. Runs alternate between the two and the table shows the medians.
// All traffic stays on 127.0.0.1. Options: --clients 100 --messages 2000 (per client) --runs 3 --churn 1000
import { connect, type Socket } from 'node:net';
import { cpus } from 'node:os';
import mqttPacket from 'mqtt-packet';
import { GatewayProcess } from '../test/harness/gateway-process.ts';
import { freePort } from '../test/harness/kafka.ts';
import { arg, medianBy, type PubResult, publish as publishRaw } from './lib/cli.ts';

const CLIENTS = arg('clients', 100);
const PER_CLIENT = arg('messages', 2000);
const RUNS = arg('runs', 3);
const CHURN = arg('churn', 1000);

const publish = (port: number): Promise<PubResult> => publishRaw(port, { clients: CLIENTS, perClient: PER_CLIENT });

const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });

/** Resolves true on `event`, false when the socket closes or fails first (a refused or reset connection). */
function until(socket: Socket, event: 'connect' | 'data'): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      socket.off(event, onEvent);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onEvent = done(true);
    const onClose = done(false);
    socket.once(event, onEvent);
    socket.once('close', onClose);
  });
}

/**
 * One churning device: connect, wait for the CONNACK, stay up to 200 ms, DISCONNECT; again until `running()` is
 * false. A connection that is refused or reset counts as a failed cycle and the device tries again.
 */
async function churnDevice(port: number, id: string, running: () => boolean, count: Counts): Promise<void> {
  const connectPacket = mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: id,
    keepalive: 60,
  });
  while (running()) {
    const socket: Socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', () => {});
    const closed = new Promise((r) => socket.once('close', r));
    let ok = await until(socket, 'connect');
    if (ok) {
      socket.write(connectPacket);
      ok = await until(socket, 'data'); // CONNACK
    }
    if (ok) {
      await new Promise((r) => setTimeout(r, Math.random() * 200));
      socket.end(DISCONNECT);
      count.cycles++;
    } else {
      count.failed++;
      socket.destroy();
    }
    await closed;
  }
}

interface Counts {
  cycles: number;
  failed: number;
}

/** Runs `fn` while CHURN devices connect and disconnect against `port`; returns its result and the cycles done. */
async function withChurn<T>(port: number, fn: () => Promise<T>): Promise<{ result: T } & Counts> {
  let on = true;
  const count: Counts = { cycles: 0, failed: 0 };
  const devices = Array.from({ length: CHURN }, (_, i) =>
    churnDevice(port, `churn-${i}`, () => on, count).catch(() => {}),
  );
  try {
    const result = await fn();
    return { result, ...count };
  } finally {
    on = false;
    await Promise.all(devices);
  }
}

const median = (xs: number[]): number => medianBy(xs, (x) => x);
const unreachable = `127.0.0.1:${await freePort()}`;
// 1,000 churning devices and the publishers all come from 127.0.0.1: above the per-address default (1,000).
const env = {
  GATEWAY_FLOWS_ENABLED: 'false',
  GATEWAY_KAFKA_BROKERS: unreachable,
  GATEWAY_SECURITY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: String(CHURN + CLIENTS + 100),
};
const withEvents = await GatewayProcess.create({ env });
const withoutEvents = await GatewayProcess.create({ env: { ...env, GATEWAY_EVENTS_ENABLED: 'false' } });
try {
  await withEvents.start();
  await withoutEvents.start();
  const on: PubResult[] = [];
  const off: PubResult[] = [];
  const cycles = { on: 0, off: 0, failed: 0 };
  for (let i = 0; i < RUNS; i++) {
    const a = await withChurn(withEvents.mqttPort, () => publish(withEvents.mqttPort));
    const b = await withChurn(withoutEvents.mqttPort, () => publish(withoutEvents.mqttPort));
    on.push(a.result);
    off.push(b.result);
    cycles.on += a.cycles;
    cycles.off += b.cycles;
    cycles.failed += a.failed + b.failed;
    console.error(
      `  run ${i + 1}: events on ${Math.round(a.result.rate)} msg/s, off ${Math.round(b.result.rate)} msg/s`,
    );
  }
  const expected = CLIENTS * PER_CLIENT;
  if ([...on, ...off].some((r) => r.acked !== expected)) {
    throw new Error(`a run was not fully acknowledged (expected ${expected} per run)`);
  }
  const connects = await withEvents.metric('gateway_client_connects_total');
  const eventRecords = await withEvents.metric('gateway_backlog_records', { class: 'events' });
  const a = median(on.map((r) => r.rate));
  const b = median(off.map((r) => r.rate));
  const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}`);
  console.log(
    `${CLIENTS} publishers x ${PER_CLIENT} QoS 1 messages of 256 bytes while ${CHURN} devices connect and ` +
      `disconnect; median of ${RUNS} alternating runs`,
  );
  console.log('| measure | events on | events off (baseline) | ratio | target |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(`| durable ingest (msg/s) | ${f0(a)} | ${f0(b)} | ${(a / b).toFixed(2)} | >= 0.90 |`);
  console.log(`| connect/disconnect cycles during the runs | ${f0(cycles.on)} | ${f0(cycles.off)} | | |`);
  console.log(`connections refused or reset during the churn: ${cycles.failed} (should be 0)`);
  console.log(`events on: ${f0(connects)} connects counted, ${f0(eventRecords)} event records buffered for Kafka`);
} catch (err) {
  for (const g of [withEvents, withoutEvents]) {
    console.error('refusals:', await g.metric('gateway_limit_refusals_total').catch(() => 'n/a'));
    console.error(g.tail.split('\n').slice(-15).join('\n'));
  }
  throw err;
} finally {
  await withoutEvents.close();
  await withEvents.close();
}
