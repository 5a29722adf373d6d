// A persistent session that reconnects while a message for it arrives: aedes restores the session's subscriptions
// before it replays the stored queue (restoreSubs … storeWill … doConnack, emptyQueue), so a message queued in
// between reaches the device live and is also in the queue the replay reads. Within one connection a device must
// get each message once. The window is held open on purpose: the reconnect waits inside the will's deletion (between
// the restore and the replay) until a message published then has been queued and handed out. Without the replay
// guard the replay sends that message again under a new packet id, the device's PUBACK for the live copy then names
// an id the broker no longer has ("no such packet"), the broker drops the connection, and the next message does not
// arrive. aedes also wrote that live message before the CONNACK; the gateway's CONNACK gate holds a persistent
// session's deliveries until its CONNACK is written, so the CONNACK is the first packet the device gets
// [MQTT-3.2.0-1]. The second test runs the same broker without the gate and sees the publish first.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { ClassicLevel } from 'classic-level';
import mqttPacket from 'mqtt-packet';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { ConnackGate, type GatedClient } from '../../gateway/broker-connack-gate.ts';
import { type AsyncPersistence, BrokerPersistence } from '../../gateway/broker-persistence.ts';
import type { MetaDb } from '../../gateway/store/store.ts';

const require = createRequire(import.meta.url);
const LevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: MetaDb) => AsyncPersistence;
const T = 'devices/racer/command';
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Gated {
  /** Resolves when the next connect of `id` is held between the subscriptions' restore and the replay. */
  hold(id: string): Promise<() => void>;
}

/** aedes on the gateway's persistence, and (unless `gate` is false) its CONNACK gate wired as gateway/broker.ts does. */
async function broker(gate = true): Promise<{ aedes: Aedes; port: number; gated: Gated }> {
  const path = mkdtempSync(join(tmpdir(), 'gw-replay-'));
  const db = new ClassicLevel<string, string>(path);
  await db.open();
  const brokerDb = db.sublevel<string, string>('broker', {}) as unknown as MetaDb;
  const inner = new LevelPersistence(brokerDb) as AsyncPersistence & { delWill(c: { id: string }): Promise<unknown> };
  let holding: { id: string; held: (release: () => void) => void } | undefined;
  const delWill = inner.delWill.bind(inner);
  inner.delWill = async (client) => {
    const h = holding;
    if (h && h.id === client.id) {
      holding = undefined;
      await new Promise<void>((release) => h.held(release));
    }
    return delWill(client);
  };
  const persistence = new BrokerPersistence(inner, { db: brokerDb, log: pino({ level: 'silent' }) });
  const connackGate = new ConnackGate();
  const aedes = await Aedes.createBroker({
    id: 'gw',
    persistence,
    preConnect: (client, packet, cb) => {
      if (gate && packet.clean === false) connackGate.hold(client as unknown as GatedClient);
      cb(null, true);
    },
  });
  aedes.on('connackSent', (_connack, client) => connackGate.open(client));
  const server = net.createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(async () => {
    await new Promise<void>((r) => aedes.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    await db.close().catch(() => {});
    rmSync(path, { recursive: true, force: true });
  });
  const gated: Gated = {
    hold: (id) => new Promise((held) => (holding = { id, held })),
  };
  return { aedes, port: (server.address() as AddressInfo).port, gated };
}

/** A device on a raw socket: every packet the broker writes is recorded in order; publishes are acknowledged. */
async function device(port: number, clientId: string) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  const seen: string[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => {
    if (p.cmd === 'publish') {
      seen.push(`publish ${p.payload.toString()}`);
      if (p.qos === 1) sock.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId as number }));
    } else seen.push(p.cmd);
  });
  sock.on('data', (d) => parser.parse(d));
  sock.on('error', () => {});
  const send = (p: mqttPacket.Packet) => sock.write(mqttPacket.generate(p));
  send({ cmd: 'connect', clientId, clean: false, keepalive: 30, protocolId: 'MQTT', protocolVersion: 4 });
  const end = () =>
    new Promise<void>((r) => {
      send({ cmd: 'disconnect' });
      sock.end(() => r());
    });
  return { seen, send, end, sock };
}

const until = async (what: () => boolean, why = '', ms = 5_000): Promise<void> => {
  const t0 = Date.now();
  while (!what()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting${why ? `: ${why}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const online = (aedes: Aedes, id: string): boolean =>
  id in (aedes as unknown as { clients: Record<string, unknown> }).clients;

const publish = (aedes: Aedes, payload: string) =>
  new Promise<void>((r, j) =>
    aedes.publish(
      { cmd: 'publish', topic: T, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
      (e?: Error) => (e ? j(e) : r()),
    ),
  );

it('a message queued while a persistent session reconnects reaches the device once on that connection', async () => {
  const { aedes, port, gated } = await broker();
  const first = await device(port, 'racer');
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: T, qos: 1 }] });
  await until(() => first.seen.includes('suback'));
  await first.end();
  await until(() => !online(aedes, 'racer'));

  await publish(aedes, 'while-away');
  for (let round = 0; round < 3; round++) {
    const held = gated.hold('racer');
    const dev = await device(port, 'racer');
    const release = await held;
    // The session's subscription is restored and the replay has not begun: this one goes out live.
    await publish(aedes, `during-reconnect-${round}`);
    release();
    await until(
      () => dev.seen.includes(`publish during-reconnect-${round}`),
      `round ${round}, the device saw ${dev.seen.join(', ')}`,
    );
    // A message after the replay, and time for a second copy to arrive.
    await publish(aedes, `after-${round}`);
    await until(
      () => dev.seen.includes(`publish after-${round}`),
      `round ${round}, the device saw ${dev.seen.join(', ')}`,
    );
    await new Promise((r) => setTimeout(r, 200));
    const counts = new Map<string, number>();
    for (const s of dev.seen) counts.set(s, (counts.get(s) ?? 0) + 1);
    const twice = [...counts].filter(([s, n]) => s.startsWith('publish') && n > 1);
    expect(twice, `round ${round}: ${dev.seen.join(', ')}`).toEqual([]);
    // The replay after the CONNACK sends the older queued message first, then the one queued during the reconnect.
    if (round === 0) {
      expect(dev.seen.indexOf('publish while-away'), dev.seen.join(', ')).toBeGreaterThan(-1);
      expect(dev.seen.indexOf('publish while-away')).toBeLessThan(dev.seen.indexOf('publish during-reconnect-0'));
    }
    expect(dev.seen[0], `round ${round}: ${dev.seen.join(', ')}`).toBe('connack');
    await dev.end();
    await until(() => !online(aedes, 'racer'));
  }
}, 30_000);

it('without the CONNACK gate, aedes writes the message queued during the reconnect before the CONNACK', async () => {
  const { aedes, port, gated } = await broker(false);
  const first = await device(port, 'racer');
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: T, qos: 1 }] });
  await until(() => first.seen.includes('suback'));
  await first.end();
  await until(() => !online(aedes, 'racer'));
  const held = gated.hold('racer');
  const dev = await device(port, 'racer');
  const release = await held;
  await publish(aedes, 'during-reconnect');
  release();
  await until(() => dev.seen.includes('connack') && dev.seen.includes('publish during-reconnect'));
  expect(dev.seen.slice(0, 2)).toEqual(['publish during-reconnect', 'connack']);
  await dev.end();
}, 30_000);
