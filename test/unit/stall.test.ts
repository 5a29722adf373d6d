// Stall detection against an in-memory KafkaSink (the library boundary) that can stop answering without an error, as a
// silent blackhole does: the bound on Kafka's answers, the forwarder's `stalled` state, one stall counted and logged
// per outage however often the producer is recycled, nothing lost and the order kept once Kafka answers again, and
// a canary that finds an idle link that stopped answering.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder, type StallInfo } from '../../cloud-sync/forwarder.ts';
import type { KafkaSink, SinkRecord } from '../../cloud-sync/sinks/types.ts';
import { StallError, withinBound } from '../../cloud-sync/stall.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { Store } from '../../gateway/store/store.ts';

const log = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const never = <T>(): Promise<T> => new Promise<T>(() => {});

/** Answers like a broker until `silent` is set; then every call waits forever (no error, no close). */
class SilentSink implements KafkaSink {
  readonly name = 'silent';
  static silent = false;
  static sent: SinkRecord[] = [];
  static connects = 0;
  static closes = 0;
  static pings = 0;
  static reset(): void {
    SilentSink.silent = false;
    SilentSink.sent = [];
    SilentSink.connects = 0;
    SilentSink.closes = 0;
    SilentSink.pings = 0;
  }
  async connect(): Promise<void> {
    SilentSink.connects++;
    if (SilentSink.silent) await never();
  }
  async send(records: readonly SinkRecord[]): Promise<void> {
    const silent = SilentSink.silent;
    if (silent) await never();
    SilentSink.sent.push(...records);
  }
  async ping(): Promise<void> {
    SilentSink.pings++;
    if (SilentSink.silent) await never();
  }
  async close(): Promise<void> {
    SilentSink.closes++;
    if (SilentSink.silent) await never(); // a close on a dead link hangs too
  }
}

async function setup(o: {
  stallTimeoutMs: number;
  canaryIntervalMs?: number;
}): Promise<{ store: Store; fwd: Forwarder }> {
  const dir = mkdtempSync(join(tmpdir(), 'stall-test-'));
  const store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 100, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: { default: { maxBytes: 1e9, maxAgeSec: 0, policy: 'reject' } },
    log,
  });
  await store.start();
  const fwd = new Forwarder({
    store,
    gatewayId: 'gw-1',
    batch: { maxRecords: 5, maxBytes: 1 << 20, lingerMs: 0 },
    retry: { initialMs: 10, maxMs: 50 },
    log,
    createSink: async () => new SilentSink(),
    ...o,
  });
  cleanup.push(async () => {
    SilentSink.silent = false;
    await fwd.stop();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, fwd };
}

function append(store: Store, dev: string, n: number): Promise<void> {
  const to = store.outbox.destination({ class: 'default', kafkaTopic: 't', key: (m) => m.clientId, envelope: false });
  const msg = { topic: `devices/${dev}`, payload: Buffer.from(`${dev}:${n}`), qos: 1 as const, clientId: dev };
  return new Promise((resolve, reject) => store.outbox.append(msg, [to], {}, (e) => (e ? reject(e) : resolve())));
}

const backlog = (store: Store): number => store.outbox.class('default')!.count;

describe('withinBound', () => {
  it('passes an answer or an early failure through, and turns silence past the bound into a StallError', async () => {
    await expect(withinBound(Promise.resolve(7), 1000, 'send')).resolves.toBe(7);
    const early = new GatewayError('GW_ERR_KAFKA_REFUSED', 'denied');
    await expect(withinBound(Promise.reject(early), 1000, 'send')).rejects.toBe(early);
    const silent = withinBound(never(), 50, 'send');
    await expect(silent).rejects.toBeInstanceOf(StallError);
    await expect(silent).rejects.toMatchObject({ code: 'GW_ERR_KAFKA', op: 'send', ms: 50 });
    // A client's own timeout that fires only after the bound: Kafka did not answer in time, a stall as well.
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error('Request timed out')), 80));
    await expect(withinBound(late, 20, 'connect')).rejects.toBeInstanceOf(StallError);
  });

  it('an aborted signal abandons the operation at once, not as a stall', async () => {
    const cut = new AbortController();
    const p = withinBound(never(), 60_000, 'send', cut.signal);
    cut.abort();
    await expect(p).rejects.toThrow(/abandoned/);
    await expect(p).rejects.not.toBeInstanceOf(StallError);
  });
});

describe('the forwarder on a link that stops answering', () => {
  it('shows stalled, counts one stall, recycles the producer, then delivers everything in order', async () => {
    SilentSink.reset();
    const { store, fwd } = await setup({ stallTimeoutMs: 300 });
    const stalls: StallInfo[] = [];
    fwd.on('stall', (s) => stalls.push(s));
    fwd.start();
    for (let i = 0; i < 10; i++) await append(store, `d${i % 2}`, i);
    await expect.poll(() => backlog(store), { timeout: 10_000 }).toBe(0);
    expect(fwd.health()).toMatchObject({ link: 'up', consecutiveFailures: 0, stalls: 0 });
    const before = Date.parse(fwd.health().lastSuccessAt ?? '');
    expect(before).toBeGreaterThan(0);

    SilentSink.silent = true;
    for (let i = 10; i < 30; i++) await append(store, `d${i % 2}`, i);
    await expect.poll(() => fwd.health().link, { timeout: 10_000 }).toBe('stalled');
    const connectsAtStall = SilentSink.connects;
    // Recycled again and again (each connect hangs too) while the records stay on disk; still one stall.
    await expect.poll(() => SilentSink.connects, { timeout: 10_000 }).toBeGreaterThan(connectsAtStall + 1);
    const h = fwd.health();
    expect(h).toMatchObject({ link: 'stalled', stalls: 1 });
    expect(h.consecutiveFailures).toBeGreaterThan(1);
    expect(h.stalledSince).toBeDefined();
    expect(h.lastError).toMatch(/no answer from Kafka/);
    expect(Date.parse(h.lastSuccessAt ?? '')).toBe(before);
    expect(stalls).toEqual([{ op: 'send', ms: 300, waiting: expect.any(Number) }]);
    expect(stalls[0]?.waiting).toBeGreaterThanOrEqual(5); // at least the batch that got no answer
    expect(SilentSink.closes).toBeGreaterThan(0);
    expect(backlog(store)).toBe(20);

    SilentSink.silent = false;
    await expect.poll(() => backlog(store), { timeout: 10_000 }).toBe(0);
    expect(fwd.health()).toMatchObject({ link: 'up', consecutiveFailures: 0, stalls: 1, stalledSince: undefined });
    expect(fwd.health().nextRetryAt).toBeUndefined();
    // At least once, in order per device: every record, first copies in publish order.
    const seen = [...new Set(SilentSink.sent.map((r) => r.value.toString()))];
    for (const dev of ['d0', 'd1']) {
      const want = Array.from({ length: 30 }, (_, i) => i).filter((i) => `d${i % 2}` === dev);
      expect(seen.filter((v) => v.startsWith(`${dev}:`))).toEqual(want.map((i) => `${dev}:${i}`));
    }
  });

  it('shows the next retry while backing off after a failure', async () => {
    SilentSink.reset();
    const { store, fwd } = await setup({ stallTimeoutMs: 200 });
    // Backoff up to 50 ms here: sample often enough to see it.
    SilentSink.silent = true;
    fwd.start();
    await append(store, 'd', 1);
    await expect.poll(() => fwd.health().nextRetryAt, { timeout: 10_000, interval: 5 }).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('a canary finds an idle link that stopped answering, and its answer ends the stall', async () => {
    SilentSink.reset();
    const { fwd } = await setup({ stallTimeoutMs: 300, canaryIntervalMs: 100 });
    const canaries: (Error | undefined)[] = [];
    fwd.on('canary', (_s, err) => canaries.push(err));
    fwd.start();
    await expect.poll(() => canaries.filter((e) => e === undefined).length, { timeout: 10_000 }).toBeGreaterThan(1);
    expect(fwd.health().link).toBe('up');
    SilentSink.silent = true;
    await expect.poll(() => fwd.health().link, { timeout: 10_000 }).toBe('stalled');
    expect(canaries.some((e) => e instanceof StallError)).toBe(true);
    expect(fwd.stalls).toBe(1);
    SilentSink.silent = false;
    await expect.poll(() => fwd.health().link, { timeout: 10_000 }).toBe('up');
    expect(fwd.health().stalledSince).toBeUndefined();
  });

  it('stops while a send gets no answer, keeping its records on disk', async () => {
    SilentSink.reset();
    const { store, fwd } = await setup({ stallTimeoutMs: 120_000 });
    fwd.start();
    await expect.poll(() => SilentSink.connects).toBe(1);
    SilentSink.silent = true;
    await append(store, 'd', 1);
    await expect.poll(() => fwd.health().link).toBe('connecting');
    // The send never answers and the bound is far away: stop() abandons it (the test's 20 s timeout is the check).
    await fwd.stop();
    expect(fwd.state).toBe('stopped');
    expect(backlog(store)).toBe(1);
    expect(SilentSink.sent).toEqual([]);
  });
});
