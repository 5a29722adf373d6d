// The drain ETA of /healthz (backlog.drainEtaSec, backlog.drainState): backlog / (out − in) with both rates taken
// only since the Kafka link came back, null with the reason when the backlog does not shrink or the link is down.
// A hand-driven clock and counters stand for the outbox; one sample a second as the gateway's timer takes them.
import { describe, expect, it } from 'vitest';
import { DrainEta } from '../../app/health.ts';
import { RateWindow } from '../../gateway/rates.ts';

/** An outbox fed at `inRate` records/s and forwarded at `outRate` while the link is up. */
function rig(backlog0 = 0) {
  const clock = { now: 0 };
  const s = { written: backlog0, forwarded: 0, up: false, inRate: 0, outRate: 0 };
  const eta = new DrainEta({ read: () => [s.written, s.forwarded], linkUp: () => s.up, now: () => clock.now });
  const backlog = (): number => s.written - s.forwarded;
  /** `seconds` of traffic, one tick at the end of each. */
  const run = (seconds: number): void => {
    for (let i = 0; i < seconds; i++) {
      clock.now += 1000;
      s.written += s.inRate;
      if (s.up) s.forwarded += Math.min(s.outRate, backlog());
      eta.tick();
    }
  };
  eta.tick();
  return { clock, s, eta, backlog, run, rates: () => eta.rates(backlog(), s.up) };
}

/** What the ETA was before: backlog / out rate over the whole 30 s window. */
function oldEta(w: RateWindow, backlog: number, linkUp: boolean): number | null {
  const [, outRate = 0] = w.rates();
  if (backlog === 0) return 0;
  return linkUp && outRate > 0 ? Math.ceil(backlog / outRate) : null;
}

describe('drain ETA', () => {
  it('counts the records still arriving: backlog / (out − in) with steady live traffic', () => {
    const r = rig();
    r.s.up = true;
    r.s.inRate = 100;
    r.s.outRate = 300;
    r.run(1); // link up at the first tick
    r.s.written += 20_000; // a backlog of 20,000 records left from an outage
    r.run(40);
    const h = r.rates();
    const backlog = r.backlog();
    // The backlog shrinks by 300 − 100 = 200 records/s.
    expect(h.drainState).toBe('draining');
    expect(h.drainEtaSec).toBe(Math.ceil(backlog / 200));
    expect(oldEta(r.eta.window, backlog, true)).not.toBe(h.drainEtaSec); // backlog / 300: a third short
    // And it is what happens: run it out.
    let seconds = 0;
    while (r.backlog() > 0 && seconds < 1000) {
      r.run(1);
      seconds += 1;
    }
    expect(seconds).toBe(h.drainEtaSec);
    expect(r.rates()).toMatchObject({ drainEtaSec: 0, drainState: 'empty' });
  });

  it('right after the link comes back it does not use the outage zeros in the window', () => {
    const r = rig();
    r.s.inRate = 100;
    r.run(60); // the outage: 6,000 records wait, nothing forwarded
    expect(r.rates()).toMatchObject({ drainEtaSec: null, drainState: 'link_down' });
    r.s.up = true;
    r.s.outRate = 400;
    r.run(2);
    expect(r.rates()).toMatchObject({ drainEtaSec: null, drainState: 'measuring' });
    r.run(6); // 8 s after link-up, 22 s of the 30 s window still hold the outage's out rate 0
    const h = r.rates();
    expect(h.outRate).toBeLessThan(400); // the 30 s mean shown still has the outage in it
    expect(h.drainState).toBe('draining');
    expect(h.drainEtaSec).toBe(Math.ceil(r.backlog() / 300));
    // The old formula, on the same window: out rate diluted by the zeros, so the ETA is several times too long.
    const old = oldEta(r.eta.window, r.backlog(), true);
    expect(old).not.toBeNull();
    expect(old as number).toBeGreaterThan(2 * (h.drainEtaSec as number));
  });

  it('gives no ETA when the backlog grows or holds (out ≤ in), and says why', () => {
    const r = rig(5000);
    r.s.up = true;
    r.s.inRate = 300;
    r.s.outRate = 200; // Kafka takes less than comes in
    r.run(30);
    const h = r.rates();
    expect(r.backlog()).toBeGreaterThan(5000);
    expect(h).toMatchObject({ drainEtaSec: null, drainState: 'not_draining', inRate: 300, outRate: 200 });
    expect(oldEta(r.eta.window, r.backlog(), true)).not.toBeNull(); // the old one promised a drain
    r.s.outRate = 300; // holds: out = in
    r.run(30);
    expect(r.rates()).toMatchObject({ drainEtaSec: null, drainState: 'not_draining' });
  });

  it('a link that drops mid-drain and comes back starts its span again', () => {
    const r = rig(10_000);
    r.s.up = true;
    r.s.outRate = 500;
    r.run(10);
    r.s.up = false;
    r.s.inRate = 200;
    r.run(20);
    expect(r.rates().drainState).toBe('link_down');
    r.s.up = true;
    r.run(10);
    // Only the 10 s since it came back: out 500, in 200.
    expect(r.rates().drainEtaSec).toBe(Math.ceil(r.backlog() / 300));
  });
});

describe('RateWindow.rates(sinceMs)', () => {
  it('counts only samples taken at or after the given time, 0 until half a second of them', () => {
    const clock = { now: 0 };
    const c = [0];
    const w = new RateWindow({ windowMs: 30_000, everyMs: 1000, read: () => c, now: () => clock.now });
    for (let t = 0; t <= 10_000; t += 1000) {
      clock.now = t;
      c[0] = t < 5000 ? 0 : (t - 5000) / 10; // 0/s, then 100/s from t = 5 s
      w.sample();
    }
    expect(w.rates()[0]).toBeCloseTo(50, 5); // the whole 10 s
    expect(w.rates(5000)[0]).toBeCloseTo(100, 5);
    expect(w.spanMs(5000)).toBe(5000);
    expect(w.rates(10_000)).toEqual([0]);
  });
});

/** Rates that change by the second: `inAt(t)` and `outAt(t)` records in second t of the drain (t from 1). */
type PerSecond = (t: number) => number;

/** A drain of `backlog0` records from the link coming up to an empty backlog (at most 5,000 s), and the ETA /healthz
 * gave as the backlog first fell to 75, 50 and 25 % of it against the time that was actually left then, as the chaos
 * report measures it: [pct, error %]. */
function drainErrors(backlog0: number, inAt: PerSecond, outAt: PerSecond): [number, number | null][] {
  const r = rig();
  r.s.up = true;
  r.run(1); // the link comes up
  r.s.written += backlog0;
  const seen: { backlog: number; eta: number | null }[] = [];
  for (let t = 1; r.backlog() > 0 && t <= 5000; t++) {
    r.s.inRate = inAt(t);
    r.s.outRate = outAt(t);
    r.run(1);
    seen.push({ backlog: r.backlog(), eta: r.rates().drainEtaSec });
  }
  expect(r.backlog()).toBe(0);
  const end = seen.length;
  return [25, 50, 75].map((pct) => {
    const i = seen.findIndex((p) => p.backlog <= backlog0 * (1 - pct / 100));
    const eta = seen[i]?.eta ?? null;
    const left = end - (i + 1);
    return [pct, eta === null ? null : Math.round(((eta - left) / left) * 1000) / 10];
  });
}

/** Every point has an ETA within ±20 % of the time left. */
function expectWithin20(errors: [number, number | null][]): void {
  for (const [pct, err] of errors) {
    expect({ pct, err, within: err !== null && Math.abs(err) <= 20 }).toMatchObject({ pct, within: true });
  }
}

describe('drain ETA against the time actually left, at 25/50/75 % of the drain', () => {
  it('follows an out rate that climbs for 30 s (the forwarder filling its batches) and then holds', () => {
    // 1.5 million records, 4,000 → 18,000 records/s out over the first 30 s, 2,000/s live in: ~107 s of drain.
    const climb = (t: number): number => (t < 30 ? 4000 + (14_000 * t) / 30 : 18_000);
    expectWithin20(drainErrors(1_500_000, () => 2000, climb));
  });

  it('does not swing with multi-second stalls of the out rate in a long drain', () => {
    // 4 million records, 9,000 records/s out but none for 5 s of every 30 s, 1,000/s live in: ~10 minutes of drain.
    // At each phase of the stalls against the 25/50/75 % points.
    for (const phase of [0, 7, 14, 21]) {
      const out = (t: number): number => ((t + phase) % 30 < 5 ? 0 : 9000);
      expectWithin20(drainErrors(4_000_000, () => 1000, out));
    }
  });

  it('counts live traffic that stalls and then bursts while the backlog drains', () => {
    // 8 million records; the live intake stops for 8 s of every 40 s, then takes 8,000/s for 8 s (the devices send
    // what they queued), else 3,000/s; the out rate is 12,000/s with 4 s stalls every 25 s: ~20 minutes of drain.
    const live = (t: number): number => (t % 40 < 8 ? 0 : t % 40 < 16 ? 8000 : 3000);
    const out = (t: number): number => (t % 25 < 4 ? 0 : 12_000);
    expectWithin20(drainErrors(8_000_000, live, out));
  });

  it('looks back half the time since the link came up, 10 s to 300 s', () => {
    const r = rig(1_000_000);
    r.s.up = true;
    r.s.outRate = 1000;
    r.run(8); // the link came up at the first of these ticks: 7 s ago
    expect(r.eta.etaWindowMs()).toBe(10_000);
    r.run(93);
    expect(r.eta.etaWindowMs()).toBe(50_000);
    r.run(900);
    expect(r.eta.etaWindowMs()).toBe(300_000);
  });
});
