// A partition of the command topic that no command was ever consumed on has no committed offset, and a consumer group
// starts such a partition at its end: without more, a command produced to it while the gateway was down (SIGKILL)
// would be skipped after the restart. The gateway keeps the time its group began consuming (in its store) and starts
// those partitions at the commands sent since then: the device gets the command once and acknowledges it. A command
// from before the gateway's first start is never replayed. Run with each `kafka.client`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { afterEach, expect, inject, it, onTestFailed } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const brokers = (): string[] => inject('kafkaBrokers');

function produce(topic: string, partition: number, key: string, value: string, headers: Record<string, string>): void {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const r = spawnSync(
    'kcat',
    ['-P', '-b', brokers().join(','), '-t', topic, '-p', String(partition), '-k', key, ...h],
    {
      input: value,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`kcat: ${r.stderr}`);
}

async function admin<T>(fn: (a: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const a = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
}

/** The group's committed offsets of `topic` by partition ('-1': none). */
const committed = (groupId: string, topic: string) =>
  admin(async (a) => {
    const [t] = await a.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
  });

/** A started gateway whose downlink consumes `commands` as `groupId` with `client`, up; its log shown on failure. */
async function downlinkGateway(client: string, commands: string, groupId: string, env: Record<string, string>) {
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_CLIENT: client,
      GATEWAY_KAFKA_BROKERS: brokers().join(','),
      GATEWAY_DOWNLINK_ENABLED: 'true',
      GATEWAY_DOWNLINK_TOPICS: commands,
      GATEWAY_DOWNLINK_GROUP_ID: groupId,
      ...env,
    },
  });
  cleanup.push(() => gw.close());
  onTestFailed(() => {
    const log = gw.output
      .split('\n')
      .filter((l) => /downlink|command/i.test(l))
      .join('\n');
    console.log(`${client} gateway downlink log:\n${log}`);
  });
  await gw.start();
  const downlinkUp = async () => ((await gw.health()) as { downlink?: { state: string } }).downlink?.state === 'up';
  await waitFor('downlink up', downlinkUp);
  return { gw, downlinkUp };
}

it.each(['platformatic', 'kafkajs'])(
  '%s: a command sent during a SIGKILL to a partition without a committed offset reaches its device once, acked',
  async (client) => {
    const suffix = randomBytes(4).toString('hex');
    const commands = `e2e.commands.${suffix}`;
    const events = `e2e.events.${suffix}`;
    const groupId = `g-${commands}`;
    await admin((a) => a.createTopics({ topics: [{ topic: commands, numPartitions: 2 }], waitForLeaders: true }));
    // Before the gateway ever consumed: never delivered, not even after a restart.
    produce(commands, 1, 'lock-7', '{"cmd":"old"}', { 'command.id': 'cmd-old' });
    await sleep(20);

    const { gw, downlinkUp } = await downlinkGateway(client, commands, groupId, { GATEWAY_EVENTS_TOPIC: events });

    // A device with a persistent session; a first command on partition 0 commits an offset there, none on partition 1.
    const got: string[] = [];
    const first = await mqtt.connectAsync(gw.url, { clientId: 'lock-7', clean: false, reconnectPeriod: 0 });
    first.on('message', (_t, p) => got.push(p.toString()));
    await first.subscribeAsync('devices/lock-7/command', { qos: 1 });
    produce(commands, 0, 'lock-7', '{"cmd":"hello"}', { 'command.id': 'cmd-hello' });
    await waitFor('first command', () => got.includes('{"cmd":"hello"}'), 30_000, 50);
    await first.endAsync();
    // Its PUBACK handled before the kill: a QoS 1 message whose ack the broker had not processed would come again.
    await expect.poll(() => gw.metric('gateway_downlink_commands_acked_total'), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => gw.metric('gateway_downlink_commands_pending')).toBe(0);
    await waitFor('offset committed on partition 0', async () => (await committed(groupId, commands))[0] !== '-1');
    expect((await committed(groupId, commands))[1]).toBe('-1');

    await gw.kill('SIGKILL');
    produce(commands, 1, 'lock-7', '{"cmd":"unlock"}', { 'command.id': 'cmd-unlock' });
    await gw.start();
    await waitFor('downlink up again', downlinkUp, 30_000);

    got.length = 0;
    const dev = mqtt.connect(gw.url, { clientId: 'lock-7', clean: false, reconnectPeriod: 0 });
    dev.on('message', (_t, p) => got.push(p.toString()));
    cleanup.push(() => dev.endAsync());
    await expect.poll(() => got, { timeout: 30_000 }).toEqual(['{"cmd":"unlock"}']);
    await expect.poll(() => gw.metric('gateway_downlink_commands_acked_total'), { timeout: 15_000 }).toBe(1);
    await expect
      .poll(
        () =>
          // At least once: an event the gateway sent just before the SIGKILL, whose send it had not yet recorded,
          // is sent again after the restart under the same gateway.msg_id. One event acked twice would not be.
          kcatRead(brokers(), events)
            .filter(
              (r, i, all) => all.findIndex((o) => o.headers['gateway.msg_id'] === r.headers['gateway.msg_id']) === i,
            )
            .map((r) => JSON.parse(r.payload ?? '{}') as { event: string; command_id?: string })
            .filter((e) => e.event === 'message.acked')
            .map((e) => e.command_id),
        { timeout: 30_000 },
      )
      .toEqual(['cmd-hello', 'cmd-unlock']);
    // Partition 1 is committed now, past both records; nothing came twice, the old command never.
    await waitFor('offset committed on partition 1', async () => (await committed(groupId, commands))[1] === '2');
    await sleep(500);
    expect(got).toEqual(['{"cmd":"unlock"}']);
    expect(await gw.metric('gateway_downlink_delivered_total')).toBe(1);
    expect(await gw.metric('gateway_downlink_commands_pending')).toBe(0);
    expect(gw.output).toContain(
      'partitions without a committed offset start at the commands sent since the group began',
    );
  },
  120_000,
);

// Kafka drops a group's committed offsets once the group has had no members for its offset retention (7 days by
// default): a gateway offline longer than that comes back to a group with no offsets at all. Deleting the empty
// group is what that expiry does, without waiting for it. The gateway keeps its own position per partition and
// resumes there: a command it handled before is not published again (a clean-session device, whose commands leave
// no other trace), and the next one arrives.
it.each(['platformatic', 'kafkajs'])(
  "%s: after Kafka dropped the group's offsets, the handled commands are not replayed",
  async (client) => {
    const suffix = randomBytes(4).toString('hex');
    const commands = `e2e.commands.${suffix}`;
    const groupId = `g-${commands}`;
    await admin((a) => a.createTopics({ topics: [{ topic: commands, numPartitions: 1 }], waitForLeaders: true }));
    const { gw, downlinkUp } = await downlinkGateway(client, commands, groupId, { GATEWAY_EVENTS_ENABLED: 'false' });

    const got: string[] = [];
    // Clean session, reconnecting by itself: subscribed again as soon as the restarted gateway takes connections.
    const dev = mqtt.connect(gw.url, { clientId: 'lock-8', clean: true, reconnectPeriod: 100, resubscribe: true });
    cleanup.push(() => dev.endAsync());
    dev.on('message', (_t, p) => got.push(p.toString()));
    await new Promise<void>((resolve, reject) => {
      dev.once('connect', () =>
        dev.subscribe('devices/lock-8/command', { qos: 1 }, (err) => (err ? reject(err) : resolve())),
      );
    });
    produce(commands, 0, 'lock-8', '{"cmd":"lock"}', { 'command.id': 'cmd-lock' });
    await expect.poll(() => got, { timeout: 30_000 }).toEqual(['{"cmd":"lock"}']);
    await waitFor('offset committed', async () => (await committed(groupId, commands))[0] === '1');

    await gw.kill('SIGKILL');
    // The killed member leaves after its session timeout; then the group is empty and its offsets can go.
    await waitFor(
      'group empty',
      () => admin(async (a) => (await a.describeGroups([groupId])).groups[0]?.state === 'Empty'),
      60_000,
      250,
    );
    await admin((a) => a.deleteGroups([groupId]));
    expect((await committed(groupId, commands))[0]).toBe('-1');

    await gw.start();
    await waitFor('downlink up again', downlinkUp, 30_000);
    // A replayed "lock" would be published as the consumer joins, perhaps before the clean-session device is back:
    // the restarted gateway's own count of commands published says whether it was, whatever the device saw.
    await waitFor('device back', () => dev.connected, 30_000, 50);
    await dev.subscribeAsync('devices/lock-8/command', { qos: 1 });
    produce(commands, 0, 'lock-8', '{"cmd":"unlock"}', { 'command.id': 'cmd-unlock' });
    await waitFor('offset committed past both', async () => (await committed(groupId, commands))[0] === '2', 30_000);
    await expect.poll(() => got, { timeout: 15_000 }).toEqual(['{"cmd":"lock"}', '{"cmd":"unlock"}']);
    await sleep(500);
    expect(got).toEqual(['{"cmd":"lock"}', '{"cmd":"unlock"}']);
    expect(await gw.metric('gateway_downlink_delivered_total')).toBe(1);
  },
  120_000,
);
