import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TimeHeap } from '../../device-sim/heap.ts';
import { buildPayload, parseSimPayload } from '../../device-sim/payload.ts';
import { HEARTBEAT_MS } from '../../device-sim/profiles/door-lock.ts';
import { getProfile, PROFILE_NAMES, PROFILES } from '../../device-sim/profiles/index.ts';
import { OFFLINE_MS } from '../../device-sim/profiles/logistics-tracker.ts';
import { Rng } from '../../device-sim/profiles/types.ts';
import { DTC_CODES } from '../../device-sim/profiles/vehicle.ts';
import { lineChart, renderHtml } from '../../device-sim/report-html.ts';
import { compileFilter } from '../../gateway/topic.ts';

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Runs a profile for `ticks` ticks at its own interval and returns every message and offline request. */
function simulate(name: (typeof PROFILE_NAMES)[number], ticks: number, seed = 7) {
  const p = getProfile(name);
  const rng = new Rng(seed);
  const id = `${p.prefix}-0001`;
  let now = 1_800_000_000_000;
  const state = p.init(id, rng, now);
  const out: { topic: string; body: Record<string, unknown>; at: number }[] = [];
  const offline: number[] = [];
  for (let i = 0; i < ticks; i++) {
    now += p.intervalMs;
    const r = p.tick(state, id, now, rng);
    for (const m of r.messages) out.push({ ...m, at: now });
    if (r.offlineMs !== undefined) offline.push(r.offlineMs);
  }
  return { p, id, state, out, offline };
}

describe('the simulator drives the shipped flows', () => {
  // Each shipped flow's `gateway in` topic and the payload fields its rule or function reads.
  const flows = JSON.parse(readFileSync(new URL('../../flows/default-flows.json', import.meta.url), 'utf8')) as {
    type: string;
    z?: string;
    id: string;
    label?: string;
    topic?: string;
  }[];
  const inputs = new Map(
    flows.filter((n) => n.type === 'gateway in').map((n) => [flows.find((t) => t.id === n.z)?.label, n.topic ?? '']),
  );
  it.each([
    ['door-lock', 'Door locks', ['battery']],
    ['vehicle', 'Vehicles', ['speed', 'lat', 'lon']],
    ['factory-sensor', 'Factory sensors', ['rms']],
  ] as const)('%s publishes what the "%s" flow reads', (profile, tab, fields) => {
    const filter = inputs.get(tab);
    expect(filter, tab).toBeTruthy();
    const match = compileFilter(filter as string);
    const { out } = simulate(profile, 200);
    expect(out.length).toBeGreaterThan(0);
    const matched = out.filter((m) => match(m.topic));
    expect(matched.length, `${profile} topics vs ${filter}`).toBeGreaterThan(0);
    for (const m of matched) for (const f of fields) expect(isNum(m.body[f]), `${m.topic} ${f}`).toBe(true);
  });
});

describe('profiles produce valid payloads', () => {
  it('every profile: topics that name the device, JSON that survives the sim envelope', () => {
    for (const name of PROFILE_NAMES) {
      const { id, out } = simulate(name, 2000);
      expect(out.length, name).toBeGreaterThan(0);
      for (const m of out) {
        expect(m.topic.split('/'), m.topic).toContain(id);
        const buf = buildPayload({ device: id, seq: 1, ts: m.at, run: 'r' }, 0, { profile: name, ...m.body });
        const parsed = JSON.parse(buf.toString()) as Record<string, unknown>;
        expect(parseSimPayload(buf)).toEqual({ device: id, seq: 1, ts: m.at, run: 'r' });
        expect(parsed.profile).toBe(name);
        expect(buf.length).toBeLessThan(512);
      }
    }
  });

  it('door-lock: state every minute and on change, booleans and a known door state', () => {
    const { id, out } = simulate('door-lock', 1000);
    const states = out.filter((m) => m.topic === `devices/${id}/state`);
    expect(states.length).toBe(out.length);
    for (const s of states) {
      expect(typeof s.body.locked).toBe('boolean');
      expect(['open', 'closed']).toContain(s.body.door);
      expect(['heartbeat', 'change']).toContain(s.body.cause);
      expect(s.body.battery).toBeGreaterThanOrEqual(0);
    }
    // Never more than a minute (plus one tick) without a state.
    for (let i = 1; i < states.length; i++) {
      expect(states[i]!.at - states[i - 1]!.at).toBeLessThanOrEqual(HEARTBEAT_MS + PROFILES['door-lock'].intervalMs);
    }
    expect(states.some((s) => s.body.cause === 'change')).toBe(true);
    expect(states.some((s) => s.body.cause === 'heartbeat')).toBe(true);
  });

  it('door-lock answers commands and refuses to lock an open door', () => {
    const p = PROFILES['door-lock'];
    const rng = new Rng(1);
    const s = p.init('lock-1', rng, 0);
    s.door = 'closed';
    const unlock = p.onCommand!(s, 'lock-1', Buffer.from('{"id":"c1","cmd":"unlock"}'), 1);
    expect(unlock[0]).toEqual({ topic: 'devices/lock-1/command/reply', body: { cmd_id: 'c1', result: 'ok' } });
    expect(unlock[1]?.body).toMatchObject({ locked: false, cause: 'command' });
    s.door = 'open';
    expect(p.onCommand!(s, 'lock-1', Buffer.from('{"id":2,"cmd":"lock"}'), 2)[0]?.body).toEqual({
      cmd_id: 2,
      result: 'error: door open',
    });
    expect(p.onCommand!(s, 'lock-1', Buffer.from('garbage'), 3)[0]?.body.result).toBe('error: unknown command');
  });

  it('vehicle: plausible speed, GPS, tires, battery; DTCs rare and from the known list', () => {
    const { id, out } = simulate('vehicle', 20_000);
    const tele = out.filter((m) => m.topic === `vehicles/${id}/telemetry`);
    const dtc = tele.filter((m) => m.body.dtc !== undefined);
    expect(tele.length).toBe(20_000);
    for (const m of tele) {
      const b = m.body as { speed: number; lat: number; lon: number; tires: number[]; battery: number };
      expect(b.speed).toBeGreaterThanOrEqual(0);
      expect(b.speed).toBeLessThanOrEqual(160);
      expect(Math.abs(b.lat)).toBeLessThanOrEqual(85);
      expect(Math.abs(b.lon)).toBeLessThanOrEqual(180);
      expect(b.tires).toHaveLength(4);
      for (const t of b.tires) expect(t).toBeGreaterThan(0);
      expect(b.battery).toBeGreaterThan(10);
    }
    expect(dtc.length).toBeGreaterThan(0);
    expect(dtc.length).toBeLessThan(100);
    for (const d of dtc) expect(DTC_CODES).toContain(d.body.dtc);
  });

  it('factory-sensor: high rate, numeric vibration, frequency near mains, temperature', () => {
    expect(PROFILES['factory-sensor'].intervalMs).toBeLessThanOrEqual(100);
    const { out } = simulate('factory-sensor', 5000);
    for (const m of out) {
      expect(isNum(m.body.rms) && isNum(m.body.peak) && isNum(m.body.temp)).toBe(true);
      expect(m.body.peak as number).toBeGreaterThanOrEqual(m.body.rms as number);
      expect(Math.abs((m.body.freq as number) - 55)).toBeLessThan(6);
    }
  });

  it('logistics-tracker: cold-chain readings and long offline periods', () => {
    const { out, offline } = simulate('logistics-tracker', 2000);
    for (const m of out) {
      expect(isNum(m.body.temp) && isNum(m.body.humidity)).toBe(true);
      expect(m.body.humidity as number).toBeGreaterThanOrEqual(10);
      expect(m.body.humidity as number).toBeLessThanOrEqual(100);
      expect(typeof m.body.door_open).toBe('boolean');
    }
    expect(offline.length).toBeGreaterThan(10);
    for (const ms of offline) {
      expect(ms).toBeGreaterThanOrEqual(OFFLINE_MS[0]);
      expect(ms).toBeLessThanOrEqual(OFFLINE_MS[1]);
    }
  });

  it('the same seed gives the same fleet', () => {
    expect(simulate('vehicle', 50, 3).out).toEqual(simulate('vehicle', 50, 3).out);
    expect(simulate('vehicle', 50, 3).out).not.toEqual(simulate('vehicle', 50, 4).out);
  });
});

describe('scheduler and report', () => {
  it('the time heap pops in time order', () => {
    const h = new TimeHeap<number>();
    const rng = new Rng(5);
    const ats = Array.from({ length: 500 }, () => rng.int(0, 1000));
    for (const [i, at] of ats.entries()) h.push(at, i);
    const popped: number[] = [];
    while (h.size) popped.push(h.pop()!.at);
    expect(popped).toEqual(ats.slice().sort((a, b) => a - b));
  });

  it('the HTML report is self-contained with inline SVG', () => {
    const samples = [0, 1, 2].map((i) => ({
      t: i * 1000,
      sent: i * 10,
      acked: i * 10,
      connected: 3,
      devices: 3,
      inflight: 1,
      sentRate: 10,
      ackRate: 10,
      ackP50: 1,
      ackP99: 4,
    }));
    const html = renderHtml({ title: 'run <x>', samples, marks: [{ t: 1000, label: 'kafka stop' }] });
    expect(html).toContain('<svg');
    expect(html).toContain('run &lt;x&gt;');
    expect(html).toContain('kafka stop');
    expect(html).not.toMatch(/<script|<link|src=|href=/);
    expect(lineChart('x', '', [0, 1], [{ name: 'a', color: '#000', values: [undefined, 2] }])).toContain('M');
  });
});
