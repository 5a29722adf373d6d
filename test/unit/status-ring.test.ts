// The status page's ring of samples: bounded at its capacity, oldest first, the oldest overwritten once full; the
// drain ETA it implies; the last disconnects it lists beside it (bounded, newest first).
import { describe, expect, it } from 'vitest';
import { RecentDisconnects } from '../../gateway/status/disconnects.ts';
import { drainEtaSec, type Sample, SampleRing } from '../../gateway/status/ring.ts';

const sample = (t: number, records = t, inRate = 0, outRate = 0): Sample => ({
  t,
  records,
  bytes: records * 10,
  inRate,
  outRate,
});

describe('SampleRing', () => {
  it('keeps the samples in order until full', () => {
    const ring = new SampleRing(4);
    expect(ring.size).toBe(0);
    expect(ring.last()).toBeUndefined();
    expect(ring.columns().t).toEqual([]);
    for (const t of [1, 2, 3]) ring.push(sample(t));
    expect(ring.size).toBe(3);
    expect(ring.columns()).toEqual({
      t: [1, 2, 3],
      records: [1, 2, 3],
      bytes: [10, 20, 30],
      inRate: [0, 0, 0],
      outRate: [0, 0, 0],
    });
    expect(ring.at(0)).toEqual(sample(1));
    expect(ring.last()).toEqual(sample(3));
    expect(ring.at(3)).toBeUndefined();
  });

  it('never holds more than its capacity: the oldest sample is overwritten, order stays oldest first', () => {
    const ring = new SampleRing(5);
    for (let t = 1; t <= 23; t++) {
      ring.push(sample(t));
      const cols = ring.columns();
      expect(ring.size).toBe(Math.min(t, 5));
      expect(cols.t.length).toBe(ring.size);
      const want = Array.from({ length: ring.size }, (_, i) => t - ring.size + 1 + i);
      expect(cols.t).toEqual(want);
      expect(cols.records).toEqual(want);
      expect(ring.at(0)?.t).toBe(want[0]);
      expect(ring.last()?.t).toBe(t);
    }
  });

  it('refuses a capacity that is no whole number from 1', () => {
    expect(() => new SampleRing(0)).toThrow(RangeError);
    expect(() => new SampleRing(2.5)).toThrow(RangeError);
  });
});

describe('drainEtaSec', () => {
  it('is the backlog over the mean net rate of the last minute', () => {
    const ring = new SampleRing(100);
    // 1000 records, out 30/s and in 10/s: 20/s net, 50 s to go.
    for (let i = 0; i < 10; i++) ring.push(sample(i * 5000, 1000, 10, 30));
    expect(drainEtaSec(ring)).toBeCloseTo(50);
  });

  it('is 0 when empty, null while the backlog does not shrink or nothing is known', () => {
    const ring = new SampleRing(10);
    expect(drainEtaSec(ring)).toBeNull();
    ring.push(sample(0, 500, 20, 5));
    expect(drainEtaSec(ring)).toBeNull(); // one sample: no rate yet
    ring.push(sample(5000, 500, 20, 5));
    expect(drainEtaSec(ring)).toBeNull(); // growing
    ring.push(sample(10_000, 0, 0, 0));
    expect(drainEtaSec(ring)).toBe(0);
  });

  it('reads only the samples of the window', () => {
    const ring = new SampleRing(100);
    for (let i = 0; i < 20; i++) ring.push(sample(i * 5000, 600, 0, 100)); // fast drain long ago
    for (let i = 20; i < 40; i++) ring.push(sample(i * 5000, 600, 0, 10)); // 10/s in the last 100 s
    expect(drainEtaSec(ring, 60_000)).toBeCloseTo(60);
  });
});

describe('RecentDisconnects', () => {
  it('lists the last disconnect per device, newest first, at most max devices', () => {
    const d = new RecentDisconnects(3);
    d.add({ clientId: 'a', at: 1, reason: 'normal' });
    d.add({ clientId: 'b', at: 2, reason: 'error' });
    d.add({ clientId: 'a', at: 3, reason: 'keepalive_timeout' });
    expect(d.list().map((x) => `${x.clientId}@${x.at}`)).toEqual(['a@3', 'b@2']);
    d.add({ clientId: 'c', at: 4, reason: 'normal' });
    d.add({ clientId: 'e', at: 0, reason: 'normal' }); // older than every kept one: not among the last 3
    d.add({ clientId: 'f', at: 5, reason: 'normal' });
    expect(d.list().map((x) => x.clientId)).toEqual(['f', 'c', 'a']);
    d.add({ clientId: 'g', at: 4.5, reason: 'takeover' }); // out of order: sorted in
    expect(d.list().map((x) => x.clientId)).toEqual(['f', 'g', 'c']);
    d.add({ clientId: 'f', at: 1, reason: 'normal' }); // an older event of a kept device changes nothing
    expect(d.list()[0]).toEqual({ clientId: 'f', at: 5, reason: 'normal' });
  });
});
