// At-least-once through flows: devices publish QoS 1 into a flow that holds each message a
// moment before `cloud out`; the gateway is SIGKILLed while messages are inside the flow; after the restart the
// journal replays them, and an independent Kafka reader finds every PUBACKed message.
// It also needs the flow taps registered before the broker accepts publishes after a restart: a QoS 1 message that
// matches no route and no tap yet is acknowledged and counted as unrouted (gateway_ingress_unrouted_total), which
// this test reports next to the loss.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { runVerify } from '../../device-sim/commands/verify.ts';
import { freePort } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const ENTRY = join(import.meta.dirname, '..', '..', 'app', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'gw-flows-e2e-'));
let proc: ChildProcess | undefined;
let output = '';

afterAll(() => {
  proc?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function flow(kafkaTopic: string): unknown[] {
  return [
    { id: 'e2e_tab', type: 'tab', label: 'crash test' },
    { id: 'e2e_in', z: 'e2e_tab', type: 'gateway in', topic: 'devices/+/state', x: 100, y: 100, wires: [['e2e_hold']] },
    {
      id: 'e2e_hold',
      z: 'e2e_tab',
      type: 'function',
      name: 'hold 30 ms',
      // Keeps messages inside the flow long enough for the kill to catch some there.
      func: 'setTimeout(() => { node.send(msg); node.done(); }, 30);\nreturn null;',
      outputs: 1,
      x: 300,
      y: 100,
      wires: [['e2e_out']],
    },
    { id: 'e2e_out', z: 'e2e_tab', type: 'cloud out', kafkaTopic, key: '', x: 500, y: 100, wires: [] },
  ];
}

async function start(env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [ENTRY], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc = child;
  const mark = output.length;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway not ready:\n${output.slice(-3000)}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.indexOf('"gateway ready"', mark) !== -1) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? sig}):\n${output.slice(-3000)}`));
    });
  });
}

async function metric(httpPort: number, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${label} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('gateway SIGKILLed while messages are inside a flow', () => {
  it('after the restart every PUBACKed message the flow forwards is in Kafka', async () => {
    const kafkaTopic = `e2e.flows.${randomBytes(4).toString('hex')}`;
    const dataDir = join(dir, 'data');
    mkdirSync(join(dataDir, 'node-red'), { recursive: true });
    // The operator's flow, as a deploy would have saved it.
    writeFileSync(join(dataDir, 'node-red', 'flows.json'), JSON.stringify(flow(kafkaTopic)));
    const mqttPort = await freePort();
    const httpPort = await freePort();
    const env = {
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_MQTT_PORT: String(mqttPort),
      GATEWAY_MQTT_HOST: '127.0.0.1',
      GATEWAY_HTTP_PORT: String(httpPort),
      GATEWAY_HTTP_HOST: '127.0.0.1',
      GATEWAY_GATEWAY_ID: 'gw-flows-test',
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      // Only the flow forwards: no route sends these messages to Kafka directly.
      GATEWAY_ROUTES: '[]',
    };
    await start(env);
    const publishing = runPublish({
      url: `mqtt://127.0.0.1:${mqttPort}`,
      clients: 5,
      count: 600,
      qos: 1,
      topic: 'devices/{id}/state',
      prefix: 'flowkill',
      size: 128,
      rate: 600,
      inflight: 10,
      quiet: true,
      drainTimeoutMs: 60_000,
    });
    await waitFor(
      'messages completing in the flow',
      async () => (await metric(httpPort, 'gateway_flow_messages_total', '{result="completed"}').catch(() => 0)) > 500,
      60_000,
    );
    const inFlight = await metric(httpPort, 'gateway_flow_messages_in_flight');
    proc!.kill('SIGKILL');
    await once(proc!, 'exit');
    await start(env);
    const ledger = await publishing;
    // Acked with no flow tap and no route to take them (e.g. while the flows were still starting).
    const unrouted = await metric(httpPort, 'gateway_ingress_unrouted_total');
    const report = await runVerify({
      ledger,
      brokers: inject('kafkaBrokers'),
      topics: [kafkaTopic],
      idleTimeoutMs: 30_000,
    });
    const replayed = /replayed unfinished flow messages/.test(output);
    const lostRanges = report.devices.filter((d) => d.lost > 0).map((d) => `${d.id}: ${JSON.stringify(d.lostRanges)}`);
    if (lostRanges.length > 0) console.log(`lost: ${lostRanges.join('; ')}`);
    console.log(
      `flows kill test: in flight at kill ~${inFlight}, replayed: ${replayed}, acked ${report.totals.expected}, ` +
        `found ${report.totals.found}, lost ${report.totals.lost}, duplicates ${report.totals.duplicates}, ` +
        `unrouted after restart ${unrouted}`,
    );
    expect(report.totals.expected).toBeGreaterThan(2000);
    expect(report.totals.lost).toBe(0);
    expect(replayed).toBe(true);
    proc!.kill('SIGTERM');
    await once(proc!, 'exit');
  });
});
