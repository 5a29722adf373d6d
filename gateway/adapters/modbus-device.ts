// One polled Modbus device: reads its register map in coalesced blocks, publishes changed values, tracks
// online/offline, and serves writes arriving on `<point topic>/set`.
import type { Logger } from 'pino';
import type { GatewayBus } from '../bus.ts';
import { coalesce, type ReadBlock } from './coalesce.ts';
import { AdapterError, reasonOf } from './errors.ts';
import type { AdapterMetrics } from './metrics.ts';
import type { ModbusBus, ModbusClient } from './modbus-bus.ts';
import { type EngValue, handleWrite } from './modbus-write.ts';
import { publishJson } from './publish.ts';
import { decodeRegisters, type Point, pointWidth, toEngineering } from './register-map.ts';
import type { ModbusDeviceConfig } from './schema.ts';

export type DeviceStatus = 'unknown' | 'online' | 'offline';

export interface DeviceContext {
  bus: GatewayBus;
  log: Logger;
  metrics: AdapterMetrics;
}

export function deviceTopic(cfg: ModbusDeviceConfig): string {
  return cfg.topic === '' ? `modbus/${cfg.name}` : cfg.topic;
}

export class ModbusDevice {
  readonly cfg: ModbusDeviceConfig;
  readonly line: ModbusBus;
  readonly topic: string;
  readonly #ctx: DeviceContext;
  readonly #log: Logger;
  #blocks: ReadBlock[];
  readonly #last = new Map<string, EngValue>();
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #running = false;
  #polling: Promise<void> | undefined;
  #unsubscribe: (() => Promise<void>)[] = [];
  readonly #writes = new Set<Promise<void>>();
  #offState: (() => void) | undefined;
  status: DeviceStatus = 'unknown';
  polls = 0;
  lastError: string | undefined;
  lastPollMs: number | undefined;
  readonly errors: Record<string, number> = {};

  constructor(cfg: ModbusDeviceConfig, line: ModbusBus, ctx: DeviceContext) {
    this.cfg = cfg;
    this.line = line;
    this.topic = deviceTopic(cfg);
    this.#ctx = ctx;
    this.#log = ctx.log.child({ device: cfg.name });
    this.#blocks = coalesce(cfg.points, cfg.maxGap);
  }

  get blocks(): readonly ReadBlock[] {
    return this.#blocks;
  }

  async start(): Promise<void> {
    this.#running = true;
    // Every `<point>/set` is answered, also for a point that is read-only or unknown: a refused write gets its reply.
    const points = new Map(this.cfg.points.map((p) => [p.name, p]));
    this.#unsubscribe.push(
      await this.#ctx.bus.subscribe(`${this.topic}/+/set`, (msg) => {
        const name = msg.topic.slice(this.topic.length + 1, -'/set'.length);
        const w = this.#onWrite(points.get(name) ?? name, msg.payload);
        this.#writes.add(w);
        void w.finally(() => this.#writes.delete(w));
      }),
    );
    // Polling follows the bus: a bus that opens is polled at once, a bus that is lost takes its devices offline.
    this.#offState = this.line.onState((open) => {
      if (!this.#running) return;
      if (open && !this.#polling) this.#schedule(0);
      if (!open) void this.#setStatus('offline', this.line.lastError);
    });
    if (this.line.open) this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#offState?.();
    this.#cancel();
    await this.#polling;
    await Promise.allSettled(this.#unsubscribe.map((u) => u()));
    await Promise.allSettled([...this.#writes]);
    this.#unsubscribe = [];
  }

  #schedule(ms: number): void {
    this.#cancel();
    if (!this.#running) return;
    const run = () => {
      this.#timer = undefined;
      this.#immediate = undefined;
      const started = Date.now();
      this.#polling = this.pollOnce()
        .catch((err: unknown) => {
          // A bug must not end polling for good: log it, count the poll as unanswered, and carry on.
          this.#log.error({ err }, 'poll failed');
          return false;
        })
        .then((responded) => {
          this.#polling = undefined;
          // The bus is down: its reopening (onState) resumes polling.
          if (!this.line.open) return;
          const elapsed = Date.now() - started;
          // A device that does not answer is retried at the poll interval, but never in a tight loop.
          const floor = responded ? 0 : Math.max(100, this.cfg.timeoutMs);
          this.#schedule(Math.max(floor, this.cfg.pollIntervalMs - elapsed));
        });
    };
    // setTimeout(0) waits at least 1 ms; back-to-back polling (pollIntervalMs 0) should not.
    if (ms <= 0) this.#immediate = setImmediate(run);
    else this.#timer = setTimeout(run, ms);
  }

  #cancel(): void {
    clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  #count(err: AdapterError): void {
    const reason = reasonOf(err.code);
    this.errors[reason] = (this.errors[reason] ?? 0) + 1;
    this.lastError = err.message;
    this.#ctx.metrics.errors.inc({ kind: 'modbus', device: this.cfg.name, reason });
    this.#ctx.metrics.requests.inc({ device: this.cfg.name, result: reason });
  }

  /** Runs one request with the device's retries; timeouts and corrupt frames are retried, exceptions are not. */
  async request<T>(fn: (c: ModbusClient) => Promise<T>): Promise<T> {
    let last: AdapterError | undefined;
    for (let attempt = 0; attempt <= this.cfg.retries; attempt++) {
      try {
        const r = await this.line.run(this.cfg.unitId, this.cfg.timeoutMs, fn);
        this.#ctx.metrics.requests.inc({ device: this.cfg.name, result: 'ok' });
        return r;
      } catch (err) {
        last = err as AdapterError;
        this.#count(last);
        if (last.code === 'GW_ERR_MODBUS_EXCEPTION' || last.code === 'GW_ERR_MODBUS_PORT') break;
      }
    }
    throw last ?? new AdapterError('GW_ERR_MODBUS_IO', 'request failed');
  }

  /** Polls every block once. Returns whether the device answered at all (an exception is an answer). */
  async pollOnce(): Promise<boolean> {
    const end = this.#ctx.metrics.pollSeconds.startTimer({ device: this.cfg.name });
    const started = Date.now();
    let responded = false;
    let failure: AdapterError | undefined;
    const publishes: Promise<void>[] = [];
    for (const block of [...this.#blocks]) {
      if (!this.#running) break;
      try {
        const data = await this.request((c) => readBlock(c, block));
        responded = true;
        for (const { point, offset } of block.points) {
          let value: EngValue | undefined;
          try {
            value = valueAt(point, data, offset);
          } catch (err) {
            // A short or malformed answer spoils this point only.
            this.#count(new AdapterError('GW_ERR_MODBUS_IO', `${point.name}: ${(err as Error).message}`));
            continue;
          }
          if (value !== undefined && this.#changed(point, value)) publishes.push(this.#publishValue(point, value));
        }
      } catch (err) {
        failure = err as AdapterError;
        if (failure.exception === 2 && block.points.length > 1) this.#split(block);
        if (failure.code === 'GW_ERR_MODBUS_EXCEPTION') responded = true;
        // A bus that is down fails every block the same way: stop here instead of repeating it.
        if (failure.code === 'GW_ERR_MODBUS_PORT') break;
      }
    }
    if (this.#blocks.length === 0) responded = this.line.open;
    this.polls++;
    this.lastPollMs = Date.now() - started;
    end();
    if (!this.#running) return responded;
    publishes.push(this.#setStatus(responded ? 'online' : 'offline', responded ? undefined : failure?.message));
    await Promise.allSettled(publishes);
    return responded;
  }

  /**
   * "Illegal data address" for a coalesced read: some address in it does not exist on this device. Read its points
   * one by one from now on, so one bad point does not hide the others.
   */
  #split(block: ReadBlock): void {
    const singles = block.points.map(({ point }) => coalesce([point])[0]).filter((b) => b !== undefined);
    this.#blocks = this.#blocks.flatMap((b) => (b === block ? singles : [b]));
    this.#log.warn(
      { start: block.start, count: block.count, points: block.points.length },
      'illegal data address in a coalesced read; reading its points one by one',
    );
  }

  #changed(p: Point, v: EngValue): boolean {
    const prev = this.#last.get(p.name);
    if (!p.publishOnChange || prev === undefined) return true;
    // A change equal to the deadband is published: with `>` a value could sit one deadband off for good, since
    // only changes are published.
    if (typeof v === 'number' && typeof prev === 'number') return v !== prev && Math.abs(v - prev) >= p.deadband;
    return v !== prev;
  }

  async #publishValue(p: Point, value: EngValue): Promise<void> {
    const ts = Date.now();
    const body = { device: this.cfg.name, point: p.name, value, unit: p.unit, ts };
    this.#last.set(p.name, value);
    try {
      await this.#publish(`${this.topic}/${p.name}`, body, false);
      this.#ctx.metrics.values.inc({ kind: 'modbus', device: this.cfg.name });
    } catch (err) {
      // Not stored: forget the value so the next poll offers it again.
      this.#last.delete(p.name);
      this.#ctx.metrics.errors.inc({ kind: 'modbus', device: this.cfg.name, reason: 'publish' });
      this.#log.warn({ err, point: p.name }, 'publish failed');
    }
  }

  async #setStatus(status: DeviceStatus, error: string | undefined): Promise<void> {
    this.#ctx.metrics.online.set({ kind: 'modbus', device: this.cfg.name }, status === 'online' ? 1 : 0);
    if (status === this.status) return;
    this.status = status;
    this.#log.info({ status, error }, 'modbus device status');
    const body: Record<string, unknown> = { device: this.cfg.name, status, ts: Date.now() };
    if (error !== undefined) body.error = error;
    try {
      await this.#publish(`${this.topic}/status`, body, true);
    } catch (err) {
      this.#log.warn({ err }, 'status publish failed');
    }
  }

  #publish(topic: string, body: unknown, retain: boolean): Promise<void> {
    return publishJson(this.#ctx.bus, this.cfg, topic, body, retain);
  }

  /** `p` is the point, or the name of a point this device does not have. */
  async #onWrite(p: Point | string, payload: Buffer): Promise<void> {
    const name = typeof p === 'string' ? p : p.name;
    const reply = await handleWrite(this, p, payload);
    this.#ctx.metrics.writes.inc({ device: this.cfg.name, result: reply.code === 'OK' ? 'ok' : reasonOf(reply.code) });
    // The device's next poll publishes what it now holds, whatever the deadband.
    if (reply.ok) this.#last.delete(name);
    try {
      const { code: _code, ...body } = reply;
      await this.#publish(`${this.topic}/${name}/set/reply`, body, false);
    } catch (err) {
      this.#log.warn({ err, point: name }, 'write reply publish failed');
    }
  }
}

async function readBlock(c: ModbusClient, b: ReadBlock): Promise<(number | boolean)[]> {
  switch (b.area) {
    case 'coil':
      return (await c.readCoils(b.start, b.count)).data;
    case 'discrete':
      return (await c.readDiscreteInputs(b.start, b.count)).data;
    case 'input':
      return (await c.readInputRegisters(b.start, b.count)).data;
    case 'holding':
      return (await c.readHoldingRegisters(b.start, b.count)).data;
  }
}

function valueAt(p: Point, data: (number | boolean)[], offset: number): EngValue | undefined {
  if (p.area === 'coil' || p.area === 'discrete') {
    const bit = data[offset];
    return typeof bit === 'boolean' ? bit : undefined;
  }
  const regs = data.slice(offset, offset + pointWidth(p)) as number[];
  return toEngineering(decodeRegisters(regs, p), p);
}
