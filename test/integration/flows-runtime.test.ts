// The real Node-RED runtime embedded in an Express 4 app, with the gateway nodes and the shipped flows, driven
// through the admin HTTP API, on the real ingest path and a temporary real store: outbox appends, and completion of
// every tapped message (also the filtered ones, read back from the flow journal) only after its appends are durable.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { ClassicLevel } from 'classic-level';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FlowRuntime } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import type { IngressMessage } from '../../gateway/bus.ts';
import type { Stamp } from '../../gateway/store/outbox.ts';
import { type IngestHarness, openIngest } from '../harness/ingest.ts';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

let server: Server;
let base: string;
let dataDir: string;
let runtime: FlowRuntime;
let metrics: Registry;
let h: IngestHarness;
let seeded: Stamp;
const logLines: Array<Record<string, unknown>> = [];
/** Outbox appends beyond this size are refused (kafka.maxRecordBytes): how a test makes an append fail. */
const MAX_RECORD = 16 * 1024;

const tapIds = (): string[] => h.ingest.flowInputs().map((t) => t.id);
/** Journal entries of one flow input, as on disk. */
const journaled = async (tapId: string) => (await h.journal()).filter((e) => e.tapId === tapId);
/** Outbox records of one Kafka topic, decoded: key, payload (JSON) and MQTT topic. */
const appendsTo = async (kafkaTopic: string) =>
  (await h.records(kafkaTopic)).map((r) => ({
    key: r.key,
    body: JSON.parse(r.payload.toString()),
    topic: r.mqttTopic,
  }));
const inject = (msg: IngressMessage, at?: number): Promise<void> => h.inject(msg, { at });
const flowErrors = () => (runtime.health()['messages'] as Record<string, number>)['error']!;

async function api(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}/editor${route}`, {
    method,
    headers: {
      'content-type': 'application/json',
      'node-red-api-version': 'v2',
      'node-red-deployment-type': 'full',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Deploys `nodes` on one extra tab next to the shipped flows, and waits until its gateway in taps are live. */
async function deploy(tabId: string, nodes: Array<Record<string, unknown>>): Promise<void> {
  const current = (await api('GET', '/flows')).body as { flows: Array<Record<string, unknown>>; rev: string };
  const others = current.flows.filter((n) => n['id'] !== tabId && n['z'] !== tabId);
  const flows = [
    ...others,
    { id: tabId, type: 'tab', label: tabId },
    ...nodes.map((n) => ({ z: tabId, x: 100, y: 100, ...n })),
  ];
  const res = await api('POST', '/flows', { flows, rev: current.rev });
  expect(res.status).toBe(200);
  const taps = nodes.filter((n) => n['type'] === 'gateway in').map((n) => String(n['id']));
  await vi.waitFor(() => expect(tapIds()).toEqual(expect.arrayContaining(taps)), { timeout: 10_000 });
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'flows-it-'));
  // A command route: what `gateway out` publishes must not reach it (toRoutes: false).
  h = await openIngest({ routes: [{ filter: 'devices/+/cmd', topic: 'cmd.uplink' }], maxRecordBytes: MAX_RECORD });
  // A message journaled by a "previous run" that crashed while it was inside the door-lock flow.
  seeded = await h.seedJournal(
    'locks_in',
    { topic: 'devices/lock-9/state', payload: json({ battery: 5, locked: true }), qos: 1, clientId: 'lock-9' },
    { at: Date.now() - 5000 },
  );
  const app = express();
  app.get('/healthz', (_req, res) => {
    res.json({ flows: runtime.health() });
  });
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config: FlowsConfig = Value.Default(FlowsSchema, { completionTimeoutMs: 1500 }) as FlowsConfig;
  const log = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  metrics = new Registry();
  runtime = new FlowRuntime({ config, bus: h.ingest, log, metrics, app, server, dataDir });
  await runtime.start();
  await vi.waitFor(() => expect(tapIds()).toEqual(expect.arrayContaining(['locks_in', 'veh_in', 'fac_in'])), {
    timeout: 20_000,
  });
});

afterAll(async () => {
  await runtime?.stop();
  await new Promise((resolve) => server?.close(resolve));
  await h?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('embedded Node-RED with the gateway nodes', () => {
  it('installs the shipped flows on first start and warns that the editor is open', async () => {
    const { body } = await api('GET', '/flows');
    const flows = (body as { flows: Array<{ type: string; label?: string }> }).flows;
    expect(flows.filter((n) => n.type === 'tab').map((n) => n.label)).toEqual([
      'Door locks',
      'Vehicles',
      'Factory sensors',
    ]);
    expect(logLines.some((l) => l['level'] === 40 && /editor is OPEN/.test(String(l['msg'])))).toBe(true);
    const health = (await (await fetch(`${base}/healthz`)).json()) as { flows: Record<string, unknown> };
    expect(health.flows).toMatchObject({ running: true, editorOpen: true, editorPath: '/editor' });
  });

  it('lists the gateway nodes in the palette category "edge gateway"', async () => {
    const res = await fetch(`${base}/editor/nodes`, { headers: { accept: 'application/json' } });
    const sets = (await res.json()) as Array<{ types: string[]; enabled: boolean; err?: string }>;
    const types = sets.filter((s) => s.enabled && !s.err).flatMap((s) => s.types);
    expect(types).toEqual(expect.arrayContaining(['gateway in', 'edge rule', 'cloud out', 'gateway out']));
    const html = await (await fetch(`${base}/editor/nodes`, { headers: { accept: 'text/html' } })).text();
    expect(html).toContain("category: 'edge gateway'");
  });

  it('replays a journaled message left by a crash and completes it', async () => {
    await expect.poll(() => journaled('locks_in'), { timeout: 5000 }).toEqual([]);
    const alarm = (await appendsTo('lock_alarms')).find((a) => a.key === 'lock-9');
    expect(alarm).toBeDefined();
    expect(alarm!.body).toMatchObject({ alarm: 'low_battery', deviceSeq: seeded.deviceSeq });
  });

  it('door locks: every state to message_state; low battery and failed unlock to lock_alarms', async () => {
    const states = [
      { battery: 80, locked: true },
      { battery: 12, locked: true },
      { battery: 90, locked: false, event: 'unlock', result: 'failed' },
      { battery: 90, locked: false, event: 'unlock', result: 'ok' },
    ];
    await Promise.all(
      states.map((s) => inject({ topic: 'devices/lock-1/state', payload: json(s), qos: 1, clientId: 'lock-1' })),
    );
    // Completed: out of the journal, after their appends.
    await expect.poll(() => journaled('locks_in'), { timeout: 5000 }).toEqual([]);
    const stateRecs = (await appendsTo('message_state')).filter((a) => a.key === 'lock-1');
    expect(stateRecs.map((a) => a.body)).toEqual(states);
    expect(stateRecs.every((a) => a.topic === 'devices/lock-1/state')).toBe(true);
    const alarms = (await appendsTo('lock_alarms')).filter((a) => a.key === 'lock-1').map((a) => a.body);
    expect(alarms.map((a) => a.alarm)).toEqual(['low_battery', 'unlock_failed']);
    expect(alarms[0]).toMatchObject({ clientid: 'lock-1', topic: 'devices/lock-1/state', payload: { battery: 12 } });
  });

  it('completes a message only after its outbox append is durable', async () => {
    // Hold, at the LevelDB boundary, every group commit that writes an outbox record: appends are not durable yet.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const batch = ClassicLevel.prototype.batch;
    type Op = { type: string; key: Buffer | string };
    let holding = false;
    const held = vi.spyOn(ClassicLevel.prototype, 'batch').mockImplementation(async function (
      this: ClassicLevel,
      ...args: unknown[]
    ) {
      const ops = args[0] as Op[];
      if (Array.isArray(ops) && ops.some((op) => op.type === 'put' && String(op.key).startsWith('!lane:'))) {
        holding = true;
        await gate;
      }
      return (batch as (...a: unknown[]) => Promise<void>).apply(this, args);
    } as never);
    try {
      await inject({ topic: 'devices/lock-2/state', payload: json({ battery: 50 }), qos: 1, clientId: 'lock-2' });
      // The flow ran up to the cloud out node, whose append waits on disk: the message is journaled, not completed.
      await vi.waitFor(() => expect(runtime.health()['messagesInFlight']).toBe(1), { timeout: 5000 });
      await vi.waitFor(() => expect(holding).toBe(true), { timeout: 5000 });
      expect((await journaled('locks_in')).map((e) => e.msg.clientId)).toEqual(['lock-2']);
      expect(runtime.health()['messagesInFlight']).toBe(1);
      release();
      await expect.poll(() => journaled('locks_in'), { timeout: 5000 }).toEqual([]);
      expect((await appendsTo('message_state')).filter((a) => a.key === 'lock-2')).toHaveLength(1);
    } finally {
      release();
      held.mockRestore();
    }
  });

  it('edge rule deployed through the admin API: matches go out, filtered messages complete too', async () => {
    await deploy('t_rule', [
      { id: 't_rule_in', type: 'gateway in', topic: 'plant/+/temp', payloadType: 'auto', wires: [['t_rule_sql']] },
      {
        id: 't_rule_sql',
        type: 'edge rule',
        sql: `SELECT payload.temp AS t, clientid FROM "plant/+/temp" WHERE payload.temp > 100 AND payload.unit = 'C'`,
        wires: [['t_rule_out']],
      },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a key template, rendered per message.
      { id: 't_rule_out', type: 'cloud out', kafkaTopic: 'hot', key: 'site-${topic.1}', wires: [] },
    ]);
    const payloads = [{ temp: 120, unit: 'C' }, { temp: 90, unit: 'C' }, { temp: 150, unit: 'F' }, { other: 1 }];
    for (const p of payloads) await inject({ topic: 'plant/oven7/temp', payload: json(p), qos: 1, clientId: 'oven7' });
    await inject({ topic: 'plant/oven7/temp', payload: Buffer.from('not json'), qos: 1, clientId: 'oven7' });
    // All five complete, the filtered ones too.
    await expect.poll(() => journaled('t_rule_in'), { timeout: 5000 }).toEqual([]);
    const hot = await appendsTo('hot');
    expect(hot).toHaveLength(1);
    expect(hot[0]!.body).toEqual({ t: 120, clientid: 'oven7' });
    expect(hot[0]!.key).toBe('site-oven7');
    // The deploy persisted to the user dir, so it survives a restart.
    const saved = JSON.parse(await readFile(path.join(dataDir, 'node-red', 'flows.json'), 'utf8')) as Array<{
      id: string;
    }>;
    expect(saved.map((n) => n.id)).toEqual(
      expect.arrayContaining(['t_rule_in', 't_rule_sql', 't_rule_out', 'locks_in']),
    );
  });

  it('bad SQL is a node error and a red status, not a crash; its messages complete as errors', async () => {
    const errorsBefore = flowErrors();
    await deploy('t_bad', [
      { id: 't_bad_in', type: 'gateway in', topic: 'bad/+', wires: [['t_bad_sql']] },
      { id: 't_bad_sql', type: 'edge rule', sql: 'SELECT FROM WHERE', wires: [['t_bad_out']] },
      { id: 't_bad_out', type: 'cloud out', kafkaTopic: 'never', wires: [] },
    ]);
    expect(logLines.some((l) => /edge rule: SQL syntax/.test(String(l['msg'])))).toBe(true);
    await inject({ topic: 'bad/1', payload: json({ a: 1 }), qos: 1, clientId: 'dev-bad' });
    await expect.poll(() => journaled('t_bad_in'), { timeout: 5000 }).toEqual([]);
    expect(flowErrors()).toBe(errorsBefore + 1);
    expect(await appendsTo('never')).toHaveLength(0);
    // The runtime still serves the other flows.
    await inject({ topic: 'devices/lock-3/state', payload: json({ battery: 70 }), qos: 1, clientId: 'lock-3' });
    await expect
      .poll(async () => (await appendsTo('message_state')).some((a) => a.key === 'lock-3'), { timeout: 5000 })
      .toBe(true);
  });

  it('a message some node never completes is released after the timeout and counted', async () => {
    await deploy('t_stuck', [
      { id: 't_stuck_in', type: 'gateway in', topic: 'stuck/+', wires: [['t_stuck_delay']] },
      // Holds the message far longer than the completion timeout (1.5 s in this test).
      { id: 't_stuck_delay', type: 'delay', pauseType: 'delay', timeout: '60', timeoutUnits: 'seconds', wires: [[]] },
    ]);
    await inject({ topic: 'stuck/1', payload: json({ a: 1 }), qos: 1, clientId: 'dev-stuck' });
    await expect.poll(() => journaled('t_stuck_in'), { timeout: 6000 }).toEqual([]);
    expect((runtime.health()['messages'] as Record<string, number>)['timeout']).toBe(1);
    const text = await metrics.metrics();
    expect(text).toMatch(/gateway_flow_messages_total\{result="timeout"\} 1/);
    expect(logLines.some((l) => /did not complete a message in time/.test(String(l['msg'])))).toBe(true);
  });

  it('a failed append completes the message as an error (counted), never as a success', async () => {
    const errorsBefore = flowErrors();
    // The state record is larger than Kafka takes: the store refuses the cloud out append (GW_ERR_TOO_LARGE).
    const big = json({ battery: 70, note: 'x'.repeat(MAX_RECORD) });
    await inject({ topic: 'devices/lock-4/state', payload: big, qos: 1, clientId: 'lock-4' });
    await expect.poll(() => journaled('locks_in'), { timeout: 5000 }).toEqual([]);
    expect(flowErrors()).toBe(errorsBefore + 1);
    expect((await appendsTo('message_state')).filter((a) => a.key === 'lock-4')).toEqual([]);
  });

  it('gateway out publishes into the broker', async () => {
    await deploy('t_cmd', [
      { id: 't_cmd_in', type: 'gateway in', topic: 'ops/+/unlock', wires: [['t_cmd_out']] },
      { id: 't_cmd_out', type: 'gateway out', topic: 'devices/lock-1/cmd', qos: '1', wires: [] },
    ]);
    await inject({ topic: 'ops/lock-1/unlock', payload: json({ cmd: 'unlock' }), qos: 1, clientId: 'ops' });
    const commands = () => h.broker.delivered.filter((m) => m.topic === 'devices/lock-1/cmd');
    await vi.waitFor(() => expect(commands()).toHaveLength(1), { timeout: 5000 });
    expect(commands()[0]).toMatchObject({ topic: 'devices/lock-1/cmd', qos: 1 });
    expect(JSON.parse(commands()[0]!.payload.toString())).toEqual({ cmd: 'unlock' });
    // To the broker only: the command route did not take it.
    await expect.poll(() => journaled('t_cmd_in'), { timeout: 5000 }).toEqual([]);
    expect(await h.records('cmd.uplink')).toEqual([]);
  });

  it('vehicles: speeding and DTC alerts; positions one per 10 s per vehicle', async () => {
    const t0 = 1_800_000_000_000;
    const send = (id: string, dt: number, p: Record<string, unknown>) =>
      inject({ topic: `vehicles/${id}/telemetry`, payload: json(p), qos: 1, clientId: id }, t0 + dt);
    await Promise.all([
      send('truck-1', 0, { speed: 80, lat: 1, lon: 2 }),
      send('truck-1', 1000, { speed: 130, lat: 1.1, lon: 2 }),
      send('truck-1', 2000, { speed: 90, lat: 1.2, lon: 2, dtc: 'P0301' }),
      send('truck-2', 2500, { speed: 60, lat: 5, lon: 6 }),
      send('truck-1', 10_000, { speed: 100, lat: 1.3, lon: 2, dtc: '' }),
    ]);
    await expect.poll(() => journaled('veh_in'), { timeout: 5000 }).toEqual([]);
    const alerts = (await appendsTo('vehicle_alerts')).map((a) => a.body);
    expect(alerts.map((a) => [a.vehicle, a.alert])).toEqual([
      ['truck-1', 'speeding'],
      ['truck-1', 'dtc'],
    ]);
    const positions = (await appendsTo('vehicle_positions')).map((a) => a.body);
    expect(positions.map((p) => [p.vehicle, p.ts - t0])).toEqual([
      ['truck-1', 0],
      ['truck-2', 2500],
      ['truck-1', 10_000],
    ]);
  });

  it('factory: 1 s samples become 10 s averages, suppressed inside the deadband', async () => {
    const t0 = 1_800_000_000_000;
    const sent: Promise<void>[] = [];
    const send = (dt: number, rms: number) =>
      sent.push(
        inject({ topic: 'factory/l1/press3/vibration', payload: json({ rms }), qos: 1, clientId: 'press3' }, t0 + dt),
      );
    for (let s = 0; s < 10; s++) send(s * 1000, s % 2 === 0 ? 2 : 4); // avg 3
    for (let s = 10; s < 20; s++) send(s * 1000, 3.02); // avg 3.02: inside the deadband
    for (let s = 20; s < 30; s++) send(s * 1000, 5); // avg 5
    send(30_000, 5); // closes the third window
    await Promise.all(sent);
    await expect.poll(async () => (await appendsTo('machine_vibration')).length, { timeout: 5000 }).toBe(2);
    const avgs = (await appendsTo('machine_vibration')).map((a) => a.body);
    expect(avgs).toEqual([
      { machine: 'press3', avg: 3, samples: 10, windowStart: t0, windowMs: 10_000 },
      { machine: 'press3', avg: 5, samples: 10, windowStart: t0 + 20_000, windowMs: 10_000 },
    ]);
    // Samples of closed windows are completed; the open window's sample stays journaled for a replay.
    await expect.poll(async () => (await journaled('fac_in')).length, { timeout: 5000 }).toBe(1);
  });
});
