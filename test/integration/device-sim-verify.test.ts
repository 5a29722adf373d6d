// verify against the real Kafka: records produced here the way the gateway writes them (key = device id, payload
// unchanged or an envelope, gateway headers), with planted faults that verify must catch.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HEADER } from '../../cloud-sync/record.ts';
import { runVerify } from '../../device-sim/commands/verify.ts';
import { readTopics } from '../../device-sim/kafka-read.ts';
import { DeviceRecorder, type Ledger, saveLedger } from '../../device-sim/ledger.ts';
import { buildPayload } from '../../device-sim/payload.ts';

const brokers = inject('kafkaBrokers');
const DEVICES = 4;
const PER_DEVICE = 50;

let producer: Producer;
let gatewaySeq = 0;
const dir = mkdtempSync(join(tmpdir(), 'device-sim-verify-'));

beforeAll(async () => {
  const kafka = new Kafka({ clientId: 'device-sim-verify-test', brokers, logLevel: logLevel.NOTHING });
  producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
});

afterAll(async () => {
  await producer.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  device: string;
  seq: number;
  msgId: string;
  value: Buffer;
  publishedAt: number;
}

/** A ledger where every device published and got acks for 1..PER_DEVICE, and the messages the gateway would forward. */
function makeRun(): { ledger: Ledger; messages: Sent[] } {
  const runId = randomBytes(6).toString('hex');
  const messages: Sent[] = [];
  const devices: Ledger['devices'] = {};
  const t0 = Date.now() - 5_000;
  for (let d = 1; d <= DEVICES; d++) {
    const id = `sim-${String(d).padStart(4, '0')}`;
    const rec = new DeviceRecorder(id, 1);
    for (let seq = 1; seq <= PER_DEVICE; seq++) {
      const ts = t0 + seq;
      rec.published(seq, `devices/${id}/telemetry`, ts);
      rec.ack(seq);
      gatewaySeq++;
      messages.push({
        device: id,
        seq,
        msgId: `gw-test-${gatewaySeq}`,
        value: buildPayload({ device: id, seq, ts, run: runId }, 128),
        publishedAt: ts,
      });
    }
    devices[id] = rec.toLedger();
  }
  const ledger: Ledger = {
    version: 1,
    runId,
    command: 'publish',
    url: 'mqtt://127.0.0.1:1883',
    startedAt: t0,
    endedAt: Date.now(),
    devices,
  };
  return { ledger, messages };
}

function toKafka(m: Sent, envelope = false): Message {
  const topic = `devices/${m.device}/telemetry`;
  const value = envelope
    ? Buffer.from(
        JSON.stringify({
          client_id: m.device,
          username: null,
          topic,
          payload: m.value.toString('base64'),
          qos: 1,
          node: 'gw-test',
          ts: m.publishedAt + 1,
        }),
      )
    : m.value;
  return {
    key: m.device,
    value,
    headers: {
      [HEADER.topic]: topic,
      [HEADER.clientId]: m.device,
      [HEADER.qos]: '1',
      [HEADER.gatewayId]: 'gw-test',
      [HEADER.gatewaySeq]: m.msgId.slice('gw-test-'.length),
      [HEADER.msgId]: m.msgId,
      [HEADER.deviceSeq]: String(m.seq),
      [HEADER.ingestTs]: String(m.publishedAt + 1),
    },
  };
}

async function produce(topic: string, messages: Sent[], envelope = false): Promise<void> {
  await producer.send({ topic, acks: -1, messages: messages.map((m) => toKafka(m, envelope)) });
}

function uniqueTopic(name: string): string {
  return `sim-verify-${name}-${randomBytes(4).toString('hex')}`;
}

describe('device-sim verify against Kafka', () => {
  it('passes a clean set, with latency measured', async () => {
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('clean');
    await produce(topic, messages);
    const r = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 20_000 });
    expect(r.ok).toBe(true);
    expect(r.stoppedBy).toBe('complete');
    expect(r.totals).toMatchObject({ expected: 200, found: 200, lost: 0, duplicates: 0, outOfOrder: 0, extra: 0 });
    expect(r.latency?.count).toBe(200);
    expect(r.latency!.p50).toBeGreaterThan(0);
    expect(r.splitDevices).toEqual([]);
  });

  it('catches a planted loss', async () => {
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('loss');
    await produce(
      topic,
      messages.filter((m) => !(m.device === 'sim-0002' && (m.seq === 10 || m.seq === 11))),
    );
    const r = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 3_000 });
    expect(r.ok).toBe(false);
    expect(r.stoppedBy).toBe('idle-timeout');
    expect(r.totals.lost).toBe(2);
    expect(r.devices.find((d) => d.id === 'sim-0002')?.lostRanges).toEqual([[10, 11]]);
  });

  it('an error in the reader itself fails the read at once instead of ending as an idle timeout', async () => {
    const { messages } = makeRun();
    const topic = uniqueTopic('throws');
    await produce(topic, messages);
    let calls = 0;
    const started = Date.now();
    const read = readTopics({
      brokers,
      topics: [topic],
      idleTimeoutMs: 120_000,
      isComplete: (records) => {
        calls++;
        if (records.length > 0) throw new RangeError('Set maximum size exceeded');
        return false;
      },
    });
    await expect(read).rejects.toThrow(/reading Kafka failed in the reader itself: Set maximum size exceeded/);
    expect(calls).toBeGreaterThan(1);
    // Well before the idle timeout: the failure ended the read, not the silence after it.
    expect(Date.now() - started).toBeLessThan(100_000);
  });

  it('counts a planted duplicate with its original id, and one with a new id', async () => {
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('dup');
    const copy = messages.find((m) => m.device === 'sim-0003' && m.seq === 20)!;
    const reingested = messages.find((m) => m.device === 'sim-0001' && m.seq === 5)!;
    await produce(topic, messages);
    // The forwarder re-sending after a crash: same msg_id. A device retransmit ingested again: new msg_id.
    await produce(topic, [copy, { ...reingested, msgId: `gw-test-${++gatewaySeq}` }]);
    const r = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 20_000 });
    expect(r.ok).toBe(true);
    expect(r.totals.duplicates).toBe(2);
    expect(r.totals.duplicatesNewId).toBe(1);
    expect(r.devices.find((d) => d.id === 'sim-0003')?.duplicates).toBe(1);
    expect(r.devices.find((d) => d.id === 'sim-0001')?.duplicatesNewId).toBe(1);
  });

  it('catches a planted reordering', async () => {
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('order');
    const i = messages.findIndex((m) => m.device === 'sim-0004' && m.seq === 30);
    const swapped = messages.slice();
    [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
    await produce(topic, swapped);
    const r = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 20_000 });
    expect(r.ok).toBe(false);
    expect(r.totals.lost).toBe(0);
    expect(r.totals.outOfOrder).toBe(1);
    expect(r.devices.find((d) => d.id === 'sim-0004')?.outOfOrder).toBe(1);
  });

  it('reads envelope records and ignores other runs on the same topic', async () => {
    const old = makeRun();
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('envelope');
    await produce(topic, old.messages.slice(0, 30));
    await produce(topic, messages, true);
    const r = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 20_000 });
    expect(r.ok).toBe(true);
    expect(r.totals.found).toBe(200);
    expect(r.ignored.otherRuns).toBe(30);
  });

  it('starting at the ledger start time skips older records', async () => {
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('from');
    // Records of an earlier run, stamped an hour before this one.
    const old = makeRun();
    const hourAgo = Date.now() - 3_600_000;
    await producer.send({
      topic,
      acks: -1,
      messages: old.messages.slice(0, 40).map((m) => ({ ...toKafka(m), timestamp: String(hourAgo) })),
    });
    await produce(topic, messages);
    const all = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 20_000 });
    expect(all.ignored.otherRuns).toBe(40);
    const recent = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 20_000, from: 'ledger' });
    expect(recent.ok).toBe(true);
    expect(recent.totals.found).toBe(200);
    expect(recent.ignored.otherRuns).toBe(0);
  });

  it('the CLI exits 1 on a loss, prints a table or JSON, and exits 2 on bad options', async () => {
    const { ledger, messages } = makeRun();
    const topic = uniqueTopic('cli');
    await produce(topic, messages.slice(1));
    const path = join(dir, 'run.json');
    await saveLedger(path, ledger);
    const args = ['verify', '--ledger', path, '--brokers', brokers.join(','), '--topic', topic, '--timeout', '3'];
    const table = await runCli(args);
    expect(table.code).toBe(1);
    expect(table.out).toMatch(/lost sim-0001: seq 1\b/);
    expect(table.out).toMatch(/FAIL: 1 lost, 0 out of order/);
    const json = await runCli([...args, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out).totals).toMatchObject({ expected: 200, found: 199, lost: 1 });
    expect((await runCli(['verify', '--brokers', 'nohost'])).code).toBe(2);
    expect((await runCli(['verify', '--timeout', 'soon'])).code).toBe(2);
  });
});

async function runCli(args: string[]): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, ['device-sim/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.setEncoding('utf8');
  let out = '';
  child.stdout.on('data', (s: string) => {
    out += s;
  });
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out };
}
