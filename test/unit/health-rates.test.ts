// The recent rates behind /healthz's backlog.inRate, outRate and drainEtaSec: a bounded ring of counter samples, a
// rate being the growth since the oldest sample inside the window; the drain time; the Kafka error history; readiness.
import { describe, expect, it } from 'vitest';
import { KafkaErrorHistory, readiness } from '../../app/health.ts';
import { RateWindow } from '../../gateway/rates.ts';

/** A window over two counters on a hand-driven clock. */
function rig(windowMs = 10_000, everyMs = 1000) {
  const clock = { now: 0 };
  const counters = [0, 0];
  const w = new RateWindow({ windowMs, everyMs, read: () => counters, now: () => clock.now });
  return { clock, counters, w };
}

describe('RateWindow', () => {
  it('says 0 before it spans half a second', () => {
    const { clock, counters, w } = rig();
    expect(w.rates()).toEqual([0, 0]);
    w.sample();
    clock.now = 100;
    counters[0] = 50;
    expect(w.rates()).toEqual([0, 0]);
  });

  it('is the growth per second since the oldest sample in the window', () => {
    const { clock, counters, w } = rig();
    for (let t = 0; t <= 5000; t += 1000) {
      clock.now = t;
      counters[0] = t / 10; // 100/s
      counters[1] = t / 40; // 25/s
      w.sample();
    }
    clock.now = 5500;
    counters[0] = 550;
    counters[1] = 137.5;
    expect(w.rates()).toEqual([100, 25]);
  });

  it('forgets what is older than the window: a burst long ago no longer counts', () => {
    const { clock, counters, w } = rig(10_000);
    w.sample();
    clock.now = 1000;
    counters[0] = 10_000; // a burst in the first second
    w.sample();
    for (let t = 2000; t <= 30_000; t += 1000) {
      clock.now = t;
      w.sample();
    }
    expect(w.rates()[0]).toBe(0);
    clock.now = 31_000;
    counters[0] = 10_010;
    expect(w.rates()[0]).toBeCloseTo(10 / 10, 5);
  });

  it('keeps at most window / every + 1 samples however long it runs', () => {
    const { clock, w } = rig(10_000, 1000);
    for (let t = 0; t < 1_000_000; t += 1000) {
      clock.now = t;
      w.sample();
    }
    expect((w as unknown as { samples: unknown[] }).samples.length).toBe(11);
  });

  it('never reports a negative rate (a counter that restarted)', () => {
    const { clock, counters, w } = rig();
    counters[0] = 100;
    w.sample();
    clock.now = 2000;
    counters[0] = 0;
    expect(w.rates()[0]).toBe(0);
  });
});

describe('KafkaErrorHistory', () => {
  it('keeps the last 5 distinct errors, newest first, counting repeats of the newest', () => {
    const h = new KafkaErrorHistory();
    h.record('a', new Date(1000));
    h.record('a', new Date(2000));
    expect(h.list()).toEqual([
      { error: 'a', firstAt: new Date(1000).toISOString(), lastAt: new Date(2000).toISOString(), count: 2 },
    ]);
    for (const m of ['b', 'c', 'd', 'e', 'f']) h.record(m, new Date(3000));
    expect(h.list().map((e) => e.error)).toEqual(['f', 'e', 'd', 'c', 'b']);
  });
});

describe('readiness', () => {
  it('is ready with the broker up and the store writable, and names every reason otherwise', () => {
    expect(readiness({ brokerUp: true, storeState: 'up', diskFreeBytes: 1 })).toEqual({ ready: true, reasons: [] });
    expect(readiness({ brokerUp: false, storeState: 'down', diskFreeBytes: 1 })).toEqual({
      ready: false,
      reasons: ['MQTT broker is not accepting connections', 'store is not writable (state down)'],
    });
    expect(readiness({ brokerUp: true, storeState: 'up', diskFreeBytes: 0 }).reasons).toEqual(['data disk is full']);
  });
});
