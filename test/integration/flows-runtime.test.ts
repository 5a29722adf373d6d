// The real Node-RED runtime embedded in an Express 4 app, with the gateway nodes and the shipped flows, driven
// through the admin HTTP API and an in-memory GatewayBus: outbox appends, and completion of every tapped message
// (also the filtered ones) only after its appends are durable.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowRuntime } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import { MemoryBus } from './flows-bus-double.ts';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

let server: Server;
let base: string;
let dataDir: string;
let runtime: FlowRuntime;
let metrics: Registry;
const bus = new MemoryBus();
const logLines: Array<Record<string, unknown>> = [];

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
  await bus.until(() => taps.every((id) => bus.taps.has(id)), 10_000, `taps ${taps.join(',')}`);
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'flows-it-'));
  // A message journaled by a "previous run" that crashed while it was inside the door-lock flow.
  bus.seedJournal(
    'locks_in',
    { topic: 'devices/lock-9/state', payload: json({ battery: 5, locked: true }), qos: 1, clientId: 'lock-9' },
    41,
    Date.now() - 5000,
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
  runtime = new FlowRuntime({ config, bus, log, metrics, app, server, dataDir });
  await runtime.start();
  await bus.until(() => bus.taps.has('locks_in') && bus.taps.has('veh_in') && bus.taps.has('fac_in'), 20_000, 'taps');
});

afterAll(async () => {
  await runtime?.stop();
  await new Promise((resolve) => server?.close(resolve));
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
    await bus.until(() => bus.journal.size === 0, 5000, 'replayed journal entry completed');
    const alarm = bus.appendsTo('lock_alarms').find((a) => a.key === 'lock-9');
    expect(alarm).toBeDefined();
    expect(JSON.parse(alarm!.payload.toString())).toMatchObject({ alarm: 'low_battery', deviceSeq: 41 });
  });

  it('door locks: every state to message_state; low battery and failed unlock to lock_alarms', async () => {
    const before = bus.appends.length;
    const completedBefore = bus.completed;
    const states = [
      { battery: 80, locked: true },
      { battery: 12, locked: true },
      { battery: 90, locked: false, event: 'unlock', result: 'failed' },
      { battery: 90, locked: false, event: 'unlock', result: 'ok' },
    ];
    for (const s of states) bus.inject({ topic: 'devices/lock-1/state', payload: json(s), qos: 1, clientId: 'lock-1' });
    await bus.until(() => bus.completed === completedBefore + 4, 5000, '4 completions');
    const mine = bus.appends.slice(before);
    const stateRecs = mine.filter((a) => a.kafkaTopic === 'message_state');
    expect(stateRecs.map((a) => JSON.parse(a.payload.toString()))).toEqual(states);
    expect(stateRecs.every((a) => a.key === 'lock-1' && a.source.topic === 'devices/lock-1/state')).toBe(true);
    const alarms = mine.filter((a) => a.kafkaTopic === 'lock_alarms').map((a) => JSON.parse(a.payload.toString()));
    expect(alarms.map((a) => a.alarm)).toEqual(['low_battery', 'unlock_failed']);
    expect(alarms[0]).toMatchObject({ clientid: 'lock-1', topic: 'devices/lock-1/state', payload: { battery: 12 } });
    expect(bus.journal.size).toBe(0);
  });

  it('completes a message only after its outbox append is durable', async () => {
    let release!: () => void;
    bus.appendGate = new Promise((resolve) => {
      release = resolve;
    });
    const completedBefore = bus.completed;
    bus.inject({ topic: 'devices/lock-2/state', payload: json({ battery: 50 }), qos: 1, clientId: 'lock-2' });
    // The flow has run up to the cloud out node; the append is held, so the message must still be journaled.
    const inFlight = () => (runtime.health()['messagesInFlight'] as number) === 1;
    await bus.until(inFlight, 5000, 'message in flight');
    const deadline = Date.now() + 300;
    while (Date.now() < deadline) {
      expect(bus.completed).toBe(completedBefore);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect([...bus.journal.keys()]).toEqual(['locks_in/lock-2/1']);
    bus.appendGate = undefined;
    release();
    await bus.until(() => bus.completed === completedBefore + 1, 5000, 'completion after append');
    expect(bus.journal.size).toBe(0);
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
    const completedBefore = bus.completed;
    const payloads = [{ temp: 120, unit: 'C' }, { temp: 90, unit: 'C' }, { temp: 150, unit: 'F' }, { other: 1 }];
    for (const p of payloads) bus.inject({ topic: 'plant/oven7/temp', payload: json(p), qos: 1, clientId: 'oven7' });
    bus.inject({ topic: 'plant/oven7/temp', payload: Buffer.from('not json'), qos: 1, clientId: 'oven7' });
    await bus.until(() => bus.completed === completedBefore + 5, 5000, '5 completions');
    const hot = bus.appendsTo('hot');
    expect(hot).toHaveLength(1);
    expect(JSON.parse(hot[0]!.payload.toString())).toEqual({ t: 120, clientid: 'oven7' });
    expect(hot[0]!.key).toBe('site-oven7');
    expect(bus.journal.size).toBe(0);
    // The deploy persisted to the user dir, so it survives a restart.
    const saved = JSON.parse(await readFile(path.join(dataDir, 'node-red', 'flows.json'), 'utf8')) as Array<{
      id: string;
    }>;
    expect(saved.map((n) => n.id)).toEqual(
      expect.arrayContaining(['t_rule_in', 't_rule_sql', 't_rule_out', 'locks_in']),
    );
  });

  it('bad SQL is a node error and a red status, not a crash; its messages complete as errors', async () => {
    const errorsBefore = (runtime.health()['messages'] as Record<string, number>)['error']!;
    await deploy('t_bad', [
      { id: 't_bad_in', type: 'gateway in', topic: 'bad/+', wires: [['t_bad_sql']] },
      { id: 't_bad_sql', type: 'edge rule', sql: 'SELECT FROM WHERE', wires: [['t_bad_out']] },
      { id: 't_bad_out', type: 'cloud out', kafkaTopic: 'never', wires: [] },
    ]);
    expect(logLines.some((l) => /edge rule: SQL syntax/.test(String(l['msg'])))).toBe(true);
    const completedBefore = bus.completed;
    bus.inject({ topic: 'bad/1', payload: json({ a: 1 }), qos: 1, clientId: 'dev-bad' });
    await bus.until(() => bus.completed === completedBefore + 1, 5000, 'completion');
    expect((runtime.health()['messages'] as Record<string, number>)['error']).toBe(errorsBefore + 1);
    expect(bus.appendsTo('never')).toHaveLength(0);
    // The runtime still serves the other flows.
    bus.inject({ topic: 'devices/lock-3/state', payload: json({ battery: 70 }), qos: 1, clientId: 'lock-3' });
    await bus.until(() => bus.appendsTo('message_state').some((a) => a.key === 'lock-3'), 5000, 'lock-3 state');
  });

  it('a message some node never completes is released after the timeout and counted', async () => {
    await deploy('t_stuck', [
      { id: 't_stuck_in', type: 'gateway in', topic: 'stuck/+', wires: [['t_stuck_delay']] },
      // Holds the message far longer than the completion timeout (1.5 s in this test).
      { id: 't_stuck_delay', type: 'delay', pauseType: 'delay', timeout: '60', timeoutUnits: 'seconds', wires: [[]] },
    ]);
    const completedBefore = bus.completed;
    bus.inject({ topic: 'stuck/1', payload: json({ a: 1 }), qos: 1, clientId: 'dev-stuck' });
    await bus.until(() => bus.completed === completedBefore + 1, 6000, 'timeout release');
    expect((runtime.health()['messages'] as Record<string, number>)['timeout']).toBe(1);
    const text = await metrics.metrics();
    expect(text).toMatch(/gateway_flow_messages_total\{result="timeout"\} 1/);
    expect(logLines.some((l) => /did not complete a message in time/.test(String(l['msg'])))).toBe(true);
  });

  it('a failed append completes the message as an error (counted), never as a success', async () => {
    const errorsBefore = (runtime.health()['messages'] as Record<string, number>)['error']!;
    bus.appendError = Object.assign(new Error('outbox full'), { code: 'GW_ERR_BUFFER_FULL' });
    const completedBefore = bus.completed;
    bus.inject({ topic: 'devices/lock-4/state', payload: json({ battery: 70 }), qos: 1, clientId: 'lock-4' });
    await bus.until(() => bus.completed === completedBefore + 1, 5000, 'completion');
    bus.appendError = undefined;
    expect((runtime.health()['messages'] as Record<string, number>)['error']).toBe(errorsBefore + 1);
  });

  it('gateway out publishes into the broker', async () => {
    await deploy('t_cmd', [
      { id: 't_cmd_in', type: 'gateway in', topic: 'ops/+/unlock', wires: [['t_cmd_out']] },
      { id: 't_cmd_out', type: 'gateway out', topic: 'devices/lock-1/cmd', qos: '1', wires: [] },
    ]);
    bus.inject({ topic: 'ops/lock-1/unlock', payload: json({ cmd: 'unlock' }), qos: 1, clientId: 'ops' });
    await bus.until(() => bus.published.length === 1, 5000, 'publish');
    expect(bus.published[0]!.msg).toMatchObject({ topic: 'devices/lock-1/cmd', qos: 1 });
    expect(JSON.parse(bus.published[0]!.msg.payload.toString())).toEqual({ cmd: 'unlock' });
    expect(bus.published[0]!.opts).toEqual({ toBroker: true, toRoutes: false });
  });

  it('vehicles: speeding and DTC alerts; positions one per 10 s per vehicle', async () => {
    const completedBefore = bus.completed;
    const t0 = 1_800_000_000_000;
    const send = (id: string, dt: number, p: Record<string, unknown>) =>
      bus.inject({ topic: `vehicles/${id}/telemetry`, payload: json(p), qos: 1, clientId: id }, t0 + dt);
    send('truck-1', 0, { speed: 80, lat: 1, lon: 2 });
    send('truck-1', 1000, { speed: 130, lat: 1.1, lon: 2 });
    send('truck-1', 2000, { speed: 90, lat: 1.2, lon: 2, dtc: 'P0301' });
    send('truck-2', 2500, { speed: 60, lat: 5, lon: 6 });
    send('truck-1', 10_000, { speed: 100, lat: 1.3, lon: 2, dtc: '' });
    await bus.until(() => bus.completed === completedBefore + 5, 5000, '5 completions');
    const alerts = bus.appendsTo('vehicle_alerts').map((a) => JSON.parse(a.payload.toString()));
    expect(alerts.map((a) => [a.vehicle, a.alert])).toEqual([
      ['truck-1', 'speeding'],
      ['truck-1', 'dtc'],
    ]);
    const positions = bus.appendsTo('vehicle_positions').map((a) => JSON.parse(a.payload.toString()));
    expect(positions.map((p) => [p.vehicle, p.ts - t0])).toEqual([
      ['truck-1', 0],
      ['truck-2', 2500],
      ['truck-1', 10_000],
    ]);
  });

  it('factory: 1 s samples become 10 s averages, suppressed inside the deadband', async () => {
    const t0 = 1_800_000_000_000;
    const send = (dt: number, rms: number) =>
      bus.inject({ topic: 'factory/l1/press3/vibration', payload: json({ rms }), qos: 1, clientId: 'press3' }, t0 + dt);
    for (let s = 0; s < 10; s++) send(s * 1000, s % 2 === 0 ? 2 : 4); // avg 3
    for (let s = 10; s < 20; s++) send(s * 1000, 3.02); // avg 3.02: inside the deadband
    for (let s = 20; s < 30; s++) send(s * 1000, 5); // avg 5
    send(30_000, 5); // closes the third window
    await bus.until(() => bus.appendsTo('machine_vibration').length === 2, 5000, 'two averages');
    const avgs = bus.appendsTo('machine_vibration').map((a) => JSON.parse(a.payload.toString()));
    expect(avgs).toEqual([
      { machine: 'press3', avg: 3, samples: 10, windowStart: t0, windowMs: 10_000 },
      { machine: 'press3', avg: 5, samples: 10, windowStart: t0 + 20_000, windowMs: 10_000 },
    ]);
    // Samples of closed windows are completed; the open window's sample stays journaled for a replay.
    await bus.until(() => [...bus.journal.keys()].filter((k) => k.startsWith('fac_in/')).length === 1, 5000, 'journal');
  });
});
