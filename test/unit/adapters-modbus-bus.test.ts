// The bus queue and the retry policy, with modbus-serial replaced at the library boundary by a fake client.
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';

const fake = vi.hoisted(() => {
  class FakeClient {
    static instances: FakeClient[] = [];
    static inFlight = 0;
    static maxInFlight = 0;
    /** Scripted outcomes of the next reads; `ok` when empty. */
    static script: ('ok' | 'timeout' | 'crc' | 'exception' | 'hang')[] = [];
    static reads = 0;
    isOpen = false;
    id = 0;
    listeners: Record<string, ((e?: unknown) => void)[]> = {};
    constructor() {
      FakeClient.instances.push(this);
    }
    on(ev: string, fn: (e?: unknown) => void) {
      this.listeners[ev] = [...(this.listeners[ev] ?? []), fn];
      return this;
    }
    async connectTCP() {
      this.isOpen = true;
    }
    setID(id: number) {
      this.id = id;
    }
    setTimeout() {}
    close(cb: () => void) {
      this.isOpen = false;
      cb();
    }
    destroy(cb: () => void) {
      cb();
    }
    async readHoldingRegisters(_addr: number, n: number) {
      FakeClient.reads++;
      FakeClient.inFlight++;
      FakeClient.maxInFlight = Math.max(FakeClient.maxInFlight, FakeClient.inFlight);
      const outcome = FakeClient.script.shift() ?? 'ok';
      if (outcome === 'hang') return new Promise<never>(() => undefined);
      await new Promise((r) => setImmediate(r));
      FakeClient.inFlight--;
      if (outcome === 'timeout') throw Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' });
      if (outcome === 'crc') throw new Error('CRC error');
      if (outcome === 'exception') throw Object.assign(new Error('Modbus exception 2'), { modbusCode: 2 });
      return { data: Array.from({ length: n }, () => this.id), buffer: Buffer.alloc(0) };
    }
  }
  return { FakeClient };
});

vi.mock('modbus-serial', () => ({ default: fake.FakeClient }));

const { Adapters } = await import('../../gateway/adapters/index.ts');
const { adaptersConfig, Delivered } = await import('../fixtures/modbus-harness.ts');
const { openIngest } = await import('../harness/ingest.ts');

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const h of opened.splice(0)) await h.close();
});

/** The adapters on the real ingest path and a temporary store; `bus` shows what reached MQTT subscribers. */
async function make(raw: unknown) {
  const h = await openIngest();
  opened.push(h);
  const a = new Adapters({
    config: adaptersConfig(raw),
    bus: h.ingest,
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
  });
  return { a, bus: new Delivered(h) };
}

const device = (name: string, unitId: number, extra: Record<string, unknown> = {}) => ({
  name,
  host: 'plc.local',
  port: 502,
  unitId,
  pollIntervalMs: 0,
  retries: 2,
  points: [{ name: 'x', address: 0 }],
  ...extra,
});

describe('Modbus bus', () => {
  it('opens nothing in the constructor', async () => {
    fake.FakeClient.instances = [];
    await make({ modbus: [device('a', 1)] });
    expect(fake.FakeClient.instances).toHaveLength(0);
  });

  it('shares one client per host:port and never has two requests in flight on it', async () => {
    fake.FakeClient.instances = [];
    fake.FakeClient.maxInFlight = 0;
    const { a, bus } = await make({ modbus: [device('a', 1), device('b', 2), device('c', 3)] });
    await a.start();
    for (const [n, u] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      await bus.waitFor(`modbus/${n}/x`, (b) => b.value === u);
    await a.stop();
    expect(fake.FakeClient.instances).toHaveLength(1);
    expect(fake.FakeClient.maxInFlight).toBe(1);
  });

  it('retries timeouts and CRC errors, not exceptions, and counts each', async () => {
    fake.FakeClient.reads = 0;
    fake.FakeClient.script = ['timeout', 'crc', 'ok', 'exception'];
    const { a, bus } = await make({ modbus: [device('r', 1, { pollIntervalMs: 60_000 })] });
    await a.start();
    await bus.waitFor('modbus/r/x');
    expect(fake.FakeClient.reads).toBe(3);
    await a.stop();
    const h = a.health() as { modbus: Record<string, { errors: Record<string, number>; status: string }> };
    expect(h.modbus.r?.errors).toEqual({ timeout: 1, crc: 1 });
    expect(h.modbus.r?.status).toBe('online');
  });

  it('gives up after the retries and reports the device offline', async () => {
    fake.FakeClient.reads = 0;
    fake.FakeClient.script = ['timeout', 'timeout', 'timeout'];
    const { a, bus } = await make({ modbus: [device('s', 1, { pollIntervalMs: 60_000, retries: 2 })] });
    await a.start();
    expect(await bus.waitFor('modbus/s/status')).toMatchObject({ status: 'offline', error: 'response timeout' });
    expect(fake.FakeClient.reads).toBe(3);
    await a.stop();
  });

  it('keeps the queue moving when the library never settles a request', async () => {
    fake.FakeClient.reads = 0;
    fake.FakeClient.inFlight = 0;
    fake.FakeClient.script = ['hang'];
    const { a, bus } = await make({ modbus: [device('h', 1, { pollIntervalMs: 0, timeoutMs: 10, retries: 1 })] });
    await a.start();
    // First attempt hangs and is abandoned after 2 × timeout + 1 s; the retry reads the value.
    expect(await bus.waitFor('modbus/h/x', () => true, 5000)).toMatchObject({ value: 1 });
    const h = a.health() as { modbus: Record<string, { errors: Record<string, number> }> };
    expect(h.modbus.h?.errors.timeout).toBe(1);
    await a.stop();
  });
});
