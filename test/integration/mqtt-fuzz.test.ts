// Seeded fuzz run against the real gateway process: FUZZ_PACKETS (100,000 by default) valid and mutated MQTT
// packets from FUZZ_SEED over thousands of TCP connections. The gateway stays up, its live memory comes back to
// within a few MB of where it started, and a well-behaved device gets its PUBACKs during and after the run.
//   FUZZ_PACKETS=1000000 npx vitest run test/integration/mqtt-fuzz.test.ts     (the long run)
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, expect, it } from 'vitest';
import { live, mb, memoryProbeOptions, probeMemory } from '../fuzz/memory.ts';
import { connectPacket, MUTATIONS, type Mutation, type Script, scripts } from '../fuzz/packets.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const PACKETS = Number(process.env.FUZZ_PACKETS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CONCURRENCY = 16;
/** Live memory (heap + buffers, after a full gc) may end this much above where it started. */
const MEMORY_SLACK = 8 * 1048576;

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Sends one script on its own connection; resolves when the gateway closed it or after 2 s (then destroys it). */
function send(port: number, s: Script, n: number): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1', noDelay: true });
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    };
    const timer = setTimeout(done, 2000);
    sock.on('error', () => {}); // resets are the expected answer to most of this input
    sock.on('close', done);
    sock.resume();
    sock.on('connect', () => {
      const bufs = s.items.map((i) => i.bytes);
      if (s.connectFirst) bufs.unshift(connectPacket(`fz-conn-${n}`));
      if (s.splitWrites) for (const b of bufs) sock.write(b);
      else sock.write(Buffer.concat(bufs));
      sock.end();
    });
  });
}

async function fuzz(port: number, seed: number, packets: number): Promise<Record<Mutation, number>> {
  const counts = Object.fromEntries(MUTATIONS.map((m) => [m, 0])) as Record<Mutation, number>;
  const source = scripts(seed, packets);
  let n = 0;
  const worker = async (): Promise<void> => {
    for (let next = source.next(); !next.done; next = source.next()) {
      for (const i of next.value.items) counts[i.mutation]++;
      await send(port, next.value, n++);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return counts;
}

/** A device that publishes QoS 1 one message at a time, counting its PUBACKs, until stopped. */
function legitDevice(url: string) {
  const state = { acked: 0, closes: 0, error: undefined as Error | undefined, stop: false };
  const run = (async () => {
    const c = await mqtt.connectAsync(url, { clientId: 'legit-sensor', reconnectPeriod: 0 });
    c.on('close', () => {
      if (!state.stop) state.closes++;
    });
    while (!state.stop) {
      await c.publishAsync('legit/legit-sensor/temp', `{"n":${state.acked}}`, { qos: 1 });
      state.acked++;
    }
    await c.endAsync();
  })().catch((err: unknown) => {
    state.error = err as Error;
  });
  return { state, done: run };
}

it(`${PACKETS} seeded random and mutated packets: the gateway stays up, frees its memory and keeps serving devices`, {
  timeout: Math.max(240_000, (PACKETS / 100_000) * 240_000),
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-fuzz-'));
  const probeFile = join(dir, 'memory.jsonl');
  const probe = memoryProbeOptions(probeFile);
  const gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', ...probe.env },
    wrap: probe.wrap,
  });
  cleanup.push(() => gw.close());
  await gw.start();

  const device = legitDevice(gw.url);
  await waitFor('the device to get its first PUBACK', () => device.state.acked > 0 || device.state.error !== undefined);
  // Warm up with other input (first-use allocations, JIT), then take the baseline.
  await fuzz(gw.mqttPort, SEED + 1, 2000);
  await waitFor('only the device connected', async () => (await gw.metric('gateway_mqtt_clients_connected')) === 1);
  const before = await probeMemory(gw, probeFile);
  const ackedBefore = device.state.acked;

  const started = Date.now();
  const counts = await fuzz(gw.mqttPort, SEED, PACKETS);
  const seconds = (Date.now() - started) / 1000;
  const ackedDuring = device.state.acked - ackedBefore;
  const sent = Object.values(counts).reduce((a, b) => a + b, 0);

  expect(gw.running).toBe(true);
  expect((await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`)).status).toBe(200);
  await waitFor('the fuzz connections gone', async () => (await gw.metric('gateway_mqtt_clients_connected')) === 1);
  // Live memory after a full gc, polled: closed clients' last timers and buffers go within seconds.
  let after = await probeMemory(gw, probeFile);
  const deadline = Date.now() + 30_000;
  while (live(after) - live(before) > MEMORY_SLACK && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    after = await probeMemory(gw, probeFile);
  }

  // The device kept being served through the run and still is afterwards.
  const ackedAtEnd = device.state.acked;
  await waitFor('a PUBACK after the run', () => device.state.acked > ackedAtEnd || device.state.error !== undefined);
  device.state.stop = true;
  await device.done;
  const fresh = await mqtt.connectAsync(gw.url, { clientId: 'legit-after', reconnectPeriod: 0 });
  await fresh.publishAsync('legit/legit-after/temp', 'ok', { qos: 1 });
  await fresh.endAsync();

  const refusals = await gw.metric('gateway_limit_refusals_total');
  console.log(
    `fuzz seed ${SEED}: ${sent} packets in ${seconds.toFixed(1)} s (${JSON.stringify(counts)}); ` +
      `device PUBACKs during: ${ackedDuring}; limit refusals: ${refusals}; ` +
      `live memory ${mb(live(before))} -> ${mb(live(after))}, heap ${mb(before.heapUsed)} -> ${mb(after.heapUsed)}, ` +
      `rss ${mb(before.rss)} -> ${mb(after.rss)}`,
  );
  expect(sent).toBeGreaterThanOrEqual(PACKETS);
  for (const m of MUTATIONS) expect(counts[m], m).toBeGreaterThan(0);
  expect(device.state.error).toBeUndefined();
  expect(device.state.closes).toBe(0);
  expect(ackedDuring).toBeGreaterThan(0);
  expect(refusals).toBeGreaterThan(0); // the oversize length claims were refused on the fixed header
  expect(live(after) - live(before)).toBeLessThanOrEqual(MEMORY_SLACK);
  expect(gw.output).not.toMatch(/uncaught|unhandled/i);
});
