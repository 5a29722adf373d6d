// After a SIGKILL the restarted gateway must take cloud commands again within seconds, not after the dead consumer's
// session (a client's default is 30 s or more) has expired; health and the gateway_downlink_* metrics say how it goes.
// The downlink's consumer is the library `kafka.client` names: run with each.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterEach, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function produce(topic: string, key: string, value: string): void {
  const r = spawnSync('kcat', ['-P', '-b', inject('kafkaBrokers').join(','), '-t', topic, '-k', key], {
    input: value,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`kcat: ${r.stderr}`);
}

interface DownlinkHealth {
  state: string;
  delivered: number;
  lastError?: string;
}
const downlink = async (gw: GatewayProcess) => ((await gw.health()) as { downlink?: DownlinkHealth }).downlink;

it.each(['platformatic', 'kafkajs'])(
  '%s: takes commands within seconds of a restart after SIGKILL, with metrics and a health state that recovers',
  async (client) => {
    const topic = `e2e.commands.${randomBytes(4).toString('hex')}`;
    const gw = await GatewayProcess.create({
      env: {
        GATEWAY_KAFKA_CLIENT: client,
        GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
        GATEWAY_DOWNLINK_ENABLED: 'true',
        GATEWAY_DOWNLINK_TOPICS: topic,
        GATEWAY_DOWNLINK_GROUP_ID: `g-${topic}`,
      },
    });
    cleanup.push(() => gw.close());
    await gw.start();
    await waitFor('downlink up', async () => (await downlink(gw))?.state === 'up');

    const dev = await mqtt.connectAsync(gw.url, { clientId: 'valve-3', clean: false });
    cleanup.push(() => dev.endAsync());
    await dev.subscribeAsync('devices/valve-3/command', { qos: 1 });
    const got: string[] = [];
    dev.on('message', (_t, p) => got.push(p.toString()));
    produce(topic, 'valve-3', 'open');
    await waitFor('first command', () => got.includes('open'), 30_000, 50);
    expect(await gw.metric('gateway_downlink_delivered_total')).toBe(1);
    expect(await gw.metric('gateway_downlink_state', { state: 'up' })).toBe(1);
    expect(await gw.metric('gateway_downlink_last_delivered_timestamp_seconds')).toBeGreaterThan(0);
    // A record without a device key is skipped and counted, not delivered.
    produce(topic, '', 'orphan');
    await waitFor(
      'skip counted',
      async () => (await gw.metric('gateway_downlink_skipped_total', { reason: 'no_key' })) === 1,
    );

    await gw.kill('SIGKILL');
    await gw.start();
    const restarted = Date.now();
    produce(topic, 'valve-3', 'close');
    // The device reconnects to its persistent session; the command arrives once the new consumer owns the partition.
    await waitFor('command after the restart', () => got.includes('close'), 15_000, 50);
    const seconds = (Date.now() - restarted) / 1000;
    console.log(
      `downlink (${client}): first command delivered ${seconds.toFixed(1)} s after the restarted gateway was ready`,
    );

    const h = await downlink(gw);
    expect(h).toMatchObject({ state: 'up', delivered: 1 });
    expect(h?.lastError).toBeUndefined();
    expect(await gw.metric('gateway_downlink_delivered_total')).toBe(1);
    expect(gw.output).not.toContain('TimeoutNegativeWarning');
  },
  120_000,
);
