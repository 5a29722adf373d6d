// A fleet of gateways into one Kafka topic (README "The guarantee", docs/fleet.md): five real gateway processes, each
// with its own balena UUID and data dir, forward QoS 1 traffic of their own devices into one topic. Mid-run gateway 3
// is SIGKILLed, its volume (the `data` folder) deleted and the gateway started again with the same UUID: the id is
// kept, the epoch changes. kcat (a third-party client) then reads the topic: per gateway (by the gateway.id header)
// every acknowledged message is there and each device in order, and no two different messages share a
// gateway.msg_id across the fleet, although gateway 3's gateway.seq starts again at 1. Only what gateway 3 had
// acknowledged but not yet forwarded when its volume went is missing; that is counted apart ("lost with the wiped
// volume", at most its backlog at the kill) and must be in the range published before the wipe.
// FLEET_PLANT=loss drops one acknowledged record from what kcat read; FLEET_PLANT=no-epoch checks the ids as
// `<gateway.id>-<gateway.seq>` (what they would be without the epoch): both must make the test fail.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { type KcatRecord, kcatRead } from '../harness/kcat.ts';
import { Trickle } from '../harness/trickle.ts';
import { waitFor } from '../harness/wait.ts';

const GATEWAYS = 5;
const DEVICES_PER_GATEWAY = 3;
const WIPED = 2; // gateway 3
const EVERY_MS = 40;
const PLANT = process.env.FLEET_PLANT ?? '';

const gateways: GatewayProcess[] = [];
const fleets: Trickle[] = [];
afterAll(async () => {
  for (const f of fleets) await f.stop().catch(() => {});
  for (const g of gateways) await g.close();
});

interface Tally {
  acked: number;
  lost: number;
  /** Missing, but acknowledged by the wiped gateway before the wipe: gone with its volume. */
  lostWithVolume: number;
  duplicates: number;
  outOfOrder: number;
  problems: string[];
}

/** One gateway's records against its ledger. Per device a sequence seen for the first time is never below one seen
 * before (order); every acknowledged sequence is present, except those below `wipedBelow` (the count acknowledged
 * before the wipe), which are counted as lost with the volume. */
function tally(records: KcatRecord[], acked: Map<string, number>, wipedBelow?: Map<string, number>): Tally {
  const t: Tally = { acked: 0, lost: 0, lostWithVolume: 0, duplicates: 0, outOfOrder: 0, problems: [] };
  for (const [d, n] of acked) {
    t.acked += n;
    const seen = new Set<number>();
    let max = -1;
    for (const r of records.filter((x) => x.key === d)) {
      const seq = Number((r.payload ?? '').slice(d.length + 1));
      if (seen.has(seq)) t.duplicates += 1;
      else if (seq < max) {
        t.outOfOrder += 1;
        t.problems.push(`${d}: ${seq} came after ${max}`);
      }
      seen.add(seq);
      max = Math.max(max, seq);
    }
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
    const withVolume = missing.filter((i) => i < (wipedBelow?.get(d) ?? 0));
    t.lostWithVolume += withVolume.length;
    const lost = missing.filter((i) => i >= (wipedBelow?.get(d) ?? 0));
    t.lost += lost.length;
    if (lost.length > 0) t.problems.push(`${d}: missing ${lost.join(',')} of 0..${n - 1}`);
  }
  return t;
}

/** gateway.msg_id values carried by records of different messages (device and payload): must be none. */
function collisions(records: KcatRecord[]): string[] {
  const byId = new Map<string, string>();
  const out: string[] = [];
  for (const r of records) {
    const h = r.headers;
    const id = PLANT === 'no-epoch' ? `${h['gateway.id']}-${h['gateway.seq']}` : (h['gateway.msg_id'] as string);
    const message = `${r.key}|${r.payload}`;
    const before = byId.get(id);
    if (before === undefined) byId.set(id, message);
    else if (before !== message) out.push(`${id}: ${before} and ${message}`);
  }
  return out;
}

const epochOf = (msgId: string): string => msgId.split('-').at(-2) as string;
const readyEpoch = (gw: GatewayProcess): string => {
  const ready = gw.output.split('\n').filter((l) => l.includes('"gateway ready"'));
  return (JSON.parse(ready.at(-1) as string) as { epoch: string }).epoch;
};

it('five gateways into one topic, one volume wiped mid-run: no id collisions, nothing lost, a new epoch', async () => {
  const brokers = inject('kafkaBrokers');
  const topic = `e2e.fleet.${randomBytes(4).toString('hex')}`;
  const uuids = Array.from({ length: GATEWAYS }, () => randomBytes(16).toString('hex'));
  const ledgers = uuids.map(
    (_, g) => new Map(Array.from({ length: DEVICES_PER_GATEWAY }, (_, d) => [`fleet-g${g + 1}-d${d + 1}`, 0])),
  );
  for (const uuid of uuids) {
    const gw = await GatewayProcess.create({
      env: {
        GATEWAY_GATEWAY_ID: '',
        BALENA_DEVICE_UUID: uuid,
        GATEWAY_KAFKA_BROKERS: brokers.join(','),
        GATEWAY_FLOWS_ENABLED: 'false',
        GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
      },
    });
    gateways.push(gw);
  }
  await Promise.all(gateways.map((g) => g.start(120_000)));
  for (const [g, gw] of gateways.entries()) expect((await gw.health()).gatewayId).toBe(uuids[g]);
  const epochBefore = readyEpoch(gateways[WIPED] as GatewayProcess);
  for (const [g, gw] of gateways.entries()) {
    const f = new Trickle(ledgers[g] as Map<string, number>);
    fleets[g] = f;
    await f.start(gw.url, EVERY_MS);
  }
  const forwarded = (gw: GatewayProcess): Promise<number> => gw.metric('gateway_forwarded_records_total');
  await waitFor(
    'every gateway forwarding',
    async () => (await Promise.all(gateways.map(forwarded))).every((n) => n >= 100),
    90_000,
  );

  // Gateway 3: its devices stop (their ledger is final for this part), the backlog is read, SIGKILL, volume gone.
  const wiped = gateways[WIPED] as GatewayProcess;
  await (fleets[WIPED] as Trickle).stop();
  const beforeWipe = new Map(ledgers[WIPED]);
  const ackedBefore = [...beforeWipe.values()].reduce((a, b) => a + b, 0);
  const backlogAtKill = await wiped.metric('gateway_backlog_records');
  await wiped.kill('SIGKILL');
  rmSync(join(wiped.dataDir, 'data'), { recursive: true, force: true });
  await wiped.start(120_000);
  expect((await wiped.health()).gatewayId).toBe(uuids[WIPED]);
  const epochAfter = readyEpoch(wiped);
  const resumed = new Trickle(ledgers[WIPED] as Map<string, number>);
  fleets[WIPED] = resumed;
  await resumed.start(wiped.url, EVERY_MS);
  await waitFor('the wiped gateway forwarding again', async () => (await forwarded(wiped)) >= 100, 90_000);
  const othersAt = await Promise.all(gateways.map(forwarded));
  await waitFor(
    'the others forwarding on',
    async () =>
      (await Promise.all(gateways.map(forwarded))).every((n, g) => g === WIPED || n >= (othersAt[g] as number) + 100),
    90_000,
  );
  for (const f of fleets) await f.stop();
  await waitFor(
    'every backlog drained',
    async () => (await Promise.all(gateways.map((g) => g.metric('gateway_backlog_records')))).every((n) => n === 0),
    90_000,
  );

  const ackedTotal = fleets.reduce((a, f) => a + f.total, 0);
  let records: KcatRecord[] = [];
  await waitFor(
    'the acknowledged records readable',
    () => {
      records = kcatRead(brokers, topic);
      return records.length >= ackedTotal - backlogAtKill;
    },
    60_000,
    500,
  );
  if (PLANT === 'loss') {
    const i = records.findIndex((r) => r.key === 'fleet-g1-d1' && r.payload === 'fleet-g1-d1:10');
    records.splice(i, 1);
  }

  const figures: string[] = [];
  let lostWithVolume = 0;
  for (const [g, uuid] of uuids.entries()) {
    const mine = records.filter((r) => r.headers['gateway.id'] === uuid);
    const t = tally(mine, ledgers[g] as Map<string, number>, g === WIPED ? beforeWipe : undefined);
    figures.push(
      `gateway ${g + 1}: acked ${t.acked}, records ${mine.length}, lost ${t.lost}, lost with the wiped volume ` +
        `${t.lostWithVolume}, duplicates ${t.duplicates}, out of order ${t.outOfOrder}`,
    );
    expect(t.problems, `gateway ${g + 1}`).toEqual([]);
    expect(t.lost, `gateway ${g + 1} lost`).toBe(0);
    expect(t.outOfOrder, `gateway ${g + 1} out of order`).toBe(0);
    if (g === WIPED) lostWithVolume = t.lostWithVolume;
    else expect(t.lostWithVolume).toBe(0);
  }
  expect(records.every((r) => uuids.includes(r.headers['gateway.id'] as string))).toBe(true);
  const clashes = collisions(records);
  const mine = records.filter((r) => r.headers['gateway.id'] === uuids[WIPED]);
  const seqOf = (r: KcatRecord): number => Number((r.payload ?? '').split(':').at(-1));
  const pre = mine.filter((r) => seqOf(r) < (beforeWipe.get(r.key as string) ?? 0));
  const post = mine.filter((r) => seqOf(r) >= (beforeWipe.get(r.key as string) ?? 0));
  const repeatedSeqs = post.filter((r) => pre.some((p) => p.headers['gateway.seq'] === r.headers['gateway.seq']));
  console.log(
    [
      `fleet: ${GATEWAYS} gateways x ${DEVICES_PER_GATEWAY} devices, ${ackedTotal} acknowledged, ${records.length} records`,
      ...figures,
      `gateway ${WIPED + 1}: backlog at the kill ${backlogAtKill}, lost with the wiped volume ${lostWithVolume}, ` +
        `${pre.length} records before the wipe (epoch ${epochBefore}), ${post.length} after (epoch ${epochAfter}), ` +
        `${repeatedSeqs.length} gateway.seq values used again after the wipe; ${ackedBefore} acked before the wipe`,
      `msg_id collisions across the fleet: ${clashes.length}`,
    ].join('\n'),
  );
  expect(lostWithVolume).toBeLessThanOrEqual(backlogAtKill);
  expect(clashes.slice(0, 5)).toEqual([]);
  expect(epochAfter).not.toBe(epochBefore);
  expect(pre.length).toBeGreaterThan(0);
  expect(post.length).toBeGreaterThan(0);
  expect(new Set(pre.map((r) => epochOf(r.headers['gateway.msg_id'] as string)))).toEqual(new Set([epochBefore]));
  expect(new Set(post.map((r) => epochOf(r.headers['gateway.msg_id'] as string)))).toEqual(new Set([epochAfter]));
  expect(repeatedSeqs.length).toBeGreaterThan(0); // the store's numbers start again: only the epoch keeps ids apart
}, 300_000);
