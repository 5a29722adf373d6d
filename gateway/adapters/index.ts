// The field adapters part: serial devices and Modbus RTU/TCP polling, feeding the gateway's durable path through the
// in-process bus. One port's or device's failure stays with it (retried with backoff, visible in status topics,
// health and metrics); the gateway keeps running.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { GatewayBus } from '../bus.ts';
import type { Part, PartHealth } from '../part.ts';
import { checkAdaptersConfig } from './check.ts';
import { AdapterError } from './errors.ts';
import { AdapterMetrics } from './metrics.ts';
import { busOptions, ModbusBus } from './modbus-bus.ts';
import { ModbusDevice } from './modbus-device.ts';
import type { AdaptersConfig } from './schema.ts';
import { SerialDevice } from './serial.ts';

export { checkAdaptersConfig } from './check.ts';
export type { AdaptersConfig } from './schema.ts';

export interface AdaptersContext {
  config: AdaptersConfig;
  bus: GatewayBus;
  log: Logger;
  metrics: Registry;
}

interface SerialHealth {
  status: SerialDevice['status'];
  path: string;
  frames: number;
  reconnects: number;
  errors: Record<string, number>;
  lastError: SerialDevice['lastError'];
}

interface ModbusHealth {
  status: ModbusDevice['status'];
  bus: string;
  polls: number;
  lastPollMs: ModbusDevice['lastPollMs'];
  errors: Record<string, number>;
  lastError: ModbusDevice['lastError'];
}

export interface AdaptersHealth extends PartHealth {
  status: string;
  online: number;
  devices: number;
  serial: Record<string, SerialHealth>;
  modbus: Record<string, ModbusHealth>;
  buses: Record<string, { open: boolean; reconnects: number; lastError: ModbusBus['lastError'] }>;
}

export class Adapters implements Part {
  /** Part name in the gateway's health report. */
  readonly name = 'adapters';
  readonly #log: Logger;
  readonly #serial: SerialDevice[];
  readonly #buses = new Map<string, ModbusBus>();
  readonly #devices: ModbusDevice[] = [];
  #started = false;

  constructor(ctx: AdaptersContext) {
    const problems = checkAdaptersConfig(ctx.config);
    if (problems.length > 0)
      throw new AdapterError(
        'GW_ERR_CONFIG',
        `invalid adapters config:\n${problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`,
        { cause: problems },
      );
    this.#log = ctx.log.child({ part: 'adapters' });
    const metrics = new AdapterMetrics(ctx.metrics);
    const deps = { bus: ctx.bus, log: this.#log, metrics };
    this.#serial = ctx.config.serial.map((s) => new SerialDevice(s, deps));
    for (const d of ctx.config.modbus) {
      const o = busOptions(d);
      let line = this.#buses.get(o.key);
      if (!line) {
        line = new ModbusBus(o, this.#log, metrics);
        this.#buses.set(o.key, line);
      }
      this.#devices.push(new ModbusDevice(d, line, deps));
    }
  }

  /** Opens ports and starts polling. Resolves without waiting for any device: an absent one is retried meanwhile. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const line of this.#buses.values()) line.start();
    for (const s of this.#serial) s.start();
    await Promise.all(this.#devices.map((d) => d.start()));
    this.#log.info(
      { serial: this.#serial.length, modbus: this.#devices.length, buses: this.#buses.size },
      'adapters started',
    );
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await Promise.all(this.#devices.map((d) => d.stop()));
    await Promise.all([...this.#buses.values()].map((b) => b.stop()));
    await Promise.all(this.#serial.map((s) => s.stop()));
    this.#log.info('adapters stopped');
  }

  health(): AdaptersHealth {
    const serial: AdaptersHealth['serial'] = {};
    for (const s of this.#serial)
      serial[s.cfg.name] = {
        status: s.status,
        path: s.cfg.path,
        frames: s.frames,
        reconnects: s.reconnects,
        errors: { ...s.errors },
        lastError: s.lastError,
      };
    const modbus: AdaptersHealth['modbus'] = {};
    for (const d of this.#devices)
      modbus[d.cfg.name] = {
        status: d.status,
        bus: d.line.opts.key,
        polls: d.polls,
        lastPollMs: d.lastPollMs,
        errors: { ...d.errors },
        lastError: d.lastError,
      };
    const buses: AdaptersHealth['buses'] = {};
    for (const [key, b] of this.#buses) buses[key] = { open: b.open, reconnects: b.reconnects, lastError: b.lastError };
    const states = [...this.#serial.map((s) => s.status), ...this.#devices.map((d) => d.status)];
    const status = overall(states);
    return {
      status,
      // `state: 'down'` (no device online) makes the gateway's own status `degraded`; see docs/adapters.md.
      state: status,
      online: states.filter((s) => s === 'online').length,
      devices: states.length,
      serial,
      modbus,
      buses,
    };
  }
}

/** ok: all online (or nothing configured); starting: none offline yet; down: none online; otherwise degraded. */
function overall(states: readonly ('unknown' | 'online' | 'offline')[]): string {
  if (states.every((s) => s === 'online')) return 'ok';
  if (!states.includes('offline')) return 'starting';
  return states.includes('online') ? 'degraded' : 'down';
}
