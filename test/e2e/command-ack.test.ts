// Command acknowledgements and expiry on the real gateway process and the real Kafka: a command for an offline
// device (persistent session) survives a SIGKILL, reaches the device exactly once when it is back, and its
// acknowledgement is a `message.acked` event under the command's id in Kafka (read by kcat, not by our code); a
// command whose TTL passes while the device is away is dropped (`message.dropped`, reason expired), never delivered.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const brokers = (): string[] => inject('kafkaBrokers');

function produce(topic: string, key: string, value: string, headers: Record<string, string> = {}): void {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const r = spawnSync('kcat', ['-P', '-b', brokers().join(','), '-t', topic, '-k', key, ...h], {
    input: value,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`kcat: ${r.stderr}`);
}

interface CommandEvent {
  event: string;
  clientid: string;
  command_id: string;
  topic: string;
  qos: number;
  latency_ms?: number;
  reason?: string;
}

/** The command events in the events topic, as an independent consumer reads them. */
function commandEvents(topic: string): CommandEvent[] {
  return kcatRead(brokers(), topic)
    .map((r) => JSON.parse(r.payload ?? '{}') as CommandEvent)
    .filter((e) => e.event.startsWith('message.'));
}

/** Sets the group's offsets back to the start of the topic (the group has no members: the gateway is stopped). */
async function rewind(groupId: string, topic: string): Promise<void> {
  const admin = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await waitFor('the consumer group is empty', async () => {
      const { groups } = await admin.describeGroups([groupId]);
      return groups[0]?.members.length === 0;
    });
    // The real first offsets (a committed -2, kafkajs' "earliest", means nothing to other clients).
    const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.low }));
    await admin.setOffsets({ groupId, topic, partitions });
  } finally {
    await admin.disconnect();
  }
}

async function gateway(
  env: Record<string, string> = {},
): Promise<{ gw: GatewayProcess; commands: string; events: string }> {
  const suffix = randomBytes(4).toString('hex');
  const commands = `e2e.commands.${suffix}`;
  const events = `e2e.events.${suffix}`;
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: brokers().join(','),
      GATEWAY_DOWNLINK_ENABLED: 'true',
      GATEWAY_DOWNLINK_TOPICS: commands,
      GATEWAY_DOWNLINK_GROUP_ID: `g-${commands}`,
      GATEWAY_EVENTS_TOPIC: events,
      ...env,
    },
  });
  cleanup.push(() => gw.close());
  await gw.start();
  await waitFor(
    'downlink up',
    async () => ((await gw.health()) as { downlink?: { state: string } }).downlink?.state === 'up',
  );
  return { gw, commands, events };
}

/** A device with a persistent session subscribed to its command topic, then offline. */
async function enrol(gw: GatewayProcess, id: string): Promise<void> {
  const dev = await mqtt.connectAsync(gw.url, { clientId: id, clean: false, reconnectPeriod: 0 });
  await dev.subscribeAsync(`devices/${id}/command`, { qos: 1 });
  await dev.endAsync();
}

async function reconnect(gw: GatewayProcess, id: string): Promise<{ dev: MqttClient; got: string[] }> {
  const got: string[] = [];
  const dev = mqtt.connect(gw.url, { clientId: id, clean: false, reconnectPeriod: 0 });
  dev.on('message', (_t, p) => got.push(p.toString()));
  cleanup.push(() => dev.endAsync());
  await new Promise<void>((resolve, reject) => {
    dev.once('connect', () => resolve());
    dev.once('error', reject);
  });
  return { dev, got };
}

it('a command waits through a SIGKILL, reaches the device once, and its ack is a message.acked event in Kafka', async () => {
  const { gw, commands, events } = await gateway();
  await enrol(gw, 'lock-9');
  produce(commands, 'lock-9', '{"cmd":"unlock"}', { 'command.id': 'cmd-unlock-1' });
  await expect.poll(() => gw.metric('gateway_downlink_commands_pending'), { timeout: 30_000 }).toBe(1);

  await gw.kill('SIGKILL');
  await gw.start();
  // The pending command was read back from the store.
  expect(await gw.metric('gateway_downlink_commands_pending')).toBe(1);
  const { got } = await reconnect(gw, 'lock-9');
  await expect.poll(() => got, { timeout: 15_000 }).toEqual(['{"cmd":"unlock"}']);
  await expect.poll(() => gw.metric('gateway_downlink_commands_acked_total')).toBe(1);
  expect(await gw.metric('gateway_downlink_commands_pending')).toBe(0);

  // A second command behind the first on the same partition: whatever Kafka handed over again came before it.
  produce(commands, 'lock-9', '{"cmd":"lock"}', { 'command.id': 'cmd-lock-2' });
  await expect.poll(() => got, { timeout: 15_000 }).toEqual(['{"cmd":"unlock"}', '{"cmd":"lock"}']);
  await expect.poll(() => gw.metric('gateway_downlink_commands_acked_total')).toBe(2);
  // The device registry counts them too (the acks of this process: the second start's).
  expect(await gw.metric('gateway_command_ack_seconds_count')).toBe(2);

  await expect
    .poll(() => commandEvents(events).filter((e) => e.event === 'message.acked'), { timeout: 30_000 })
    .toHaveLength(2);
  const all = commandEvents(events);
  const acked = all.filter((e) => e.event === 'message.acked');
  expect(acked.map((e) => e.command_id)).toEqual(['cmd-unlock-1', 'cmd-lock-2']);
  expect(acked[0]).toMatchObject({ clientid: 'lock-9', topic: 'devices/lock-9/command', qos: 1 });
  // From its arrival before the crash to the ack after the restart.
  expect(acked[0]?.latency_ms).toBeGreaterThan(0);
  // Sent to the connected device before each ack.
  expect(all.filter((e) => e.event === 'message.delivered').map((e) => e.command_id)).toEqual([
    'cmd-unlock-1',
    'cmd-lock-2',
  ]);
});

it('a command whose TTL passes while its device is away is dropped as expired, not delivered late', async () => {
  const { gw, commands, events } = await gateway({ GATEWAY_DOWNLINK_TTL_SEC: '2' });
  await enrol(gw, 'lock-5');
  produce(commands, 'lock-5', '{"cmd":"unlock"}', { 'command.id': 'cmd-late', 'command.ttl_ms': '1500' });
  await expect.poll(() => gw.metric('gateway_downlink_commands_expired_total'), { timeout: 30_000 }).toBe(1);
  expect(await gw.metric('gateway_downlink_commands_pending')).toBe(0);
  // One already expired when it arrives (expires_at in the past) is not delivered either.
  produce(commands, 'lock-5', '{"cmd":"open"}', { 'command.id': 'cmd-past', 'command.expires_at': '1000' });
  await expect.poll(() => gw.metric('gateway_downlink_commands_expired_total')).toBe(2);

  // A TTL header that cannot be read: skipped and counted, never delivered on a guess.
  produce(commands, 'lock-5', '{"cmd":"unlock"}', { 'command.id': 'cmd-bad', 'command.ttl_ms': 'soon' });
  await expect.poll(() => gw.metric('gateway_downlink_skipped_total', { reason: 'bad_header' })).toBe(1);

  // Without a header downlink.ttlSec (2 s) applies, and the expiry survives a SIGKILL: the restarted gateway drops it.
  produce(commands, 'lock-5', '{"cmd":"unlock"}', { 'command.id': 'cmd-default' });
  await expect.poll(() => gw.metric('gateway_downlink_commands_pending'), { timeout: 30_000 }).toBe(1);
  await gw.kill('SIGKILL');
  await gw.start();
  await expect.poll(() => gw.metric('gateway_downlink_commands_expired_total'), { timeout: 15_000 }).toBe(1);
  expect(await gw.metric('gateway_downlink_commands_pending')).toBe(0);

  // Kafka hands every record over again (as it does after a crash before a commit): the finished commands are not
  // queued anew, so none is delivered with a fresh TTL when the device is back.
  await gw.stop();
  await rewind(`g-${commands}`, commands);
  await gw.start();

  const { got } = await reconnect(gw, 'lock-5');
  produce(commands, 'lock-5', '{"cmd":"status"}', { 'command.id': 'cmd-status', 'command.ttl_ms': '0' });
  // The device's records are one partition, in order: `status` comes after the re-read ones.
  await expect.poll(() => got, { timeout: 30_000 }).toEqual(['{"cmd":"status"}']);
  // The finished records handed over again were skipped (cmd-late, cmd-past, cmd-default: at least the first two,
  // finished long before the restarts; no late delivery above is the point).
  expect(await gw.metric('gateway_downlink_skipped_total', { reason: 'duplicate' })).toBeGreaterThanOrEqual(2);
  expect(await gw.metric('gateway_downlink_skipped_total', { reason: 'bad_header' })).toBe(1);

  await expect
    .poll(() => commandEvents(events).filter((e) => e.event === 'message.dropped'), { timeout: 30_000 })
    .toHaveLength(3);
  const dropped = commandEvents(events).filter((e) => e.event === 'message.dropped');
  expect(dropped).toEqual(
    ['cmd-late', 'cmd-past', 'cmd-default'].map((id) =>
      expect.objectContaining({ command_id: id, clientid: 'lock-5', reason: 'expired' }),
    ),
  );
});

it('QoS 2: the command is acknowledged by its PUBCOMP', async () => {
  const { gw, commands, events } = await gateway({ GATEWAY_DOWNLINK_QOS: '2' });
  const dev = await mqtt.connectAsync(gw.url, { clientId: 'valve-2', clean: false, reconnectPeriod: 0 });
  cleanup.push(() => dev.endAsync());
  await dev.subscribeAsync('devices/valve-2/command', { qos: 2 });
  const got: string[] = [];
  dev.on('message', (_t, p) => got.push(p.toString()));
  produce(commands, 'valve-2', 'close', { 'command.id': 'cmd-q2' });
  await expect.poll(() => got, { timeout: 30_000 }).toEqual(['close']);
  await expect.poll(() => gw.metric('gateway_downlink_commands_acked_total')).toBe(1);
  await expect
    .poll(() => commandEvents(events).filter((e) => e.event === 'message.acked'), { timeout: 30_000 })
    .toEqual([expect.objectContaining({ command_id: 'cmd-q2', clientid: 'valve-2', qos: 2 })]);
});
