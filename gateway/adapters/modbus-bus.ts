// One Modbus bus: an RTU serial line or a TCP connection, shared by the devices configured on it. modbus-serial
// handles one request at a time per client (concurrent requests time out), so every request goes through this
// bus's queue. The callback/event API of modbus-serial is adapted here and nowhere else.

import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.ts';
import { AdapterError } from './errors.ts';
import type { AdapterMetrics } from './metrics.ts';
import type { ModbusDeviceConfig } from './schema.ts';

export type ModbusClient = ModbusRTU;
// modbus-serial is CommonJS (`module.exports = ModbusRTU`); its typings declare a default export of the class.
const ModbusClientCtor = ModbusSerial as unknown as new () => ModbusClient;

export interface BusOptions {
  key: string;
  transport: 'rtu' | 'tcp';
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  host: string;
  port: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export function busKey(d: ModbusDeviceConfig): string {
  return d.transport === 'rtu' ? `rtu:${d.path}` : `tcp:${d.host}:${d.port}`;
}

export function busOptions(d: ModbusDeviceConfig): BusOptions {
  return {
    key: busKey(d),
    transport: d.transport,
    path: d.path,
    baudRate: d.baudRate,
    dataBits: d.dataBits,
    parity: d.parity,
    stopBits: d.stopBits,
    host: d.host,
    port: d.port,
    reconnectMinMs: d.reconnectMinMs,
    reconnectMaxMs: d.reconnectMaxMs,
  };
}

/** Maps a modbus-serial error to a stable code. */
export function classify(err: unknown): AdapterError {
  if (err instanceof AdapterError) return err;
  const e = err as { message?: string; errno?: string; modbusCode?: number; name?: string };
  const msg = e?.message ?? String(err);
  if (typeof e?.modbusCode === 'number')
    return new AdapterError('GW_ERR_MODBUS_EXCEPTION', msg, { cause: err, exception: e.modbusCode });
  if (e?.errno === 'ETIMEDOUT' || e?.name === 'TransactionTimedOutError')
    return new AdapterError('GW_ERR_MODBUS_TIMEOUT', 'response timeout', { cause: err });
  if (msg === 'CRC error') return new AdapterError('GW_ERR_MODBUS_CRC', 'CRC error', { cause: err });
  if (e?.errno === 'ECONNREFUSED' || e?.name === 'PortNotOpenError' || /not open/i.test(msg))
    return new AdapterError('GW_ERR_MODBUS_PORT', msg, { cause: err });
  return new AdapterError('GW_ERR_MODBUS_IO', msg, { cause: err });
}

export class ModbusBus {
  readonly opts: BusOptions;
  readonly #log: Logger;
  readonly #metrics: AdapterMetrics;
  #client: ModbusClient | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #backoff: Backoff;
  #connecting: Promise<void> | undefined;
  #listeners = new Set<(open: boolean) => void>();
  lastError: string | undefined;
  reconnects = 0;

  constructor(opts: BusOptions, log: Logger, metrics: AdapterMetrics) {
    this.opts = opts;
    this.#log = log.child({ bus: opts.key });
    this.#metrics = metrics;
    this.#backoff = new Backoff({ initialMs: opts.reconnectMinMs, maxMs: opts.reconnectMaxMs, jitter: 0.2 });
  }

  get open(): boolean {
    return this.#client?.isOpen === true;
  }

  /** Called with true when the bus opens and false when it is lost (or fails to open). Returns an unsubscribe. */
  onState(fn: (open: boolean) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  start(): void {
    this.#running = true;
    this.#connecting = this.#connect();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#connecting;
    await this.#queue;
    await this.#close();
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    const client = new ModbusClientCtor();
    // Reconnection is ours; a port error only surfaces as a failed request or a close.
    client.on('error', (err: unknown) => {
      this.lastError = (err as Error)?.message;
      // modbus-serial's TCP port marks itself closed on a socket error (ECONNRESET) and then never emits 'close'.
      if (!client.isOpen) this.#lost(client, this.lastError ?? 'port error');
    });
    try {
      if (this.opts.transport === 'rtu') {
        await client.connectRTUBuffered(this.opts.path, {
          baudRate: this.opts.baudRate,
          dataBits: this.opts.dataBits,
          parity: this.opts.parity,
          stopBits: this.opts.stopBits,
        });
      } else {
        await client.connectTCP(this.opts.host, { port: this.opts.port, timeout: 5000 });
      }
    } catch (err) {
      this.lastError = (err as Error)?.message ?? String(err);
      this.#emit(false);
      this.#scheduleReconnect(`open failed: ${this.lastError}`);
      abandon(client);
      return;
    }
    if (!this.#running) {
      await closeClient(client);
      return;
    }
    this.#client = client;
    this.#backoff.reset();
    this.lastError = undefined;
    client.on('close', () => this.#lost(client, 'port closed'));
    if (this.opts.transport === 'tcp') {
      // A TCP connection that dies without a FIN would otherwise look alive until the OS gives up.
      (
        client as unknown as { _port?: { _client?: { setKeepAlive?: (on: boolean, ms: number) => void } } }
      )._port?._client?.setKeepAlive?.(true, 10_000);
    }
    this.#log.info('modbus bus open');
    this.#emit(true);
  }

  /** The open client went away: close what is left of it and reopen with backoff (once per client). */
  #lost(client: ModbusClient, why: string): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.lastError = why;
    closeQuietly(client);
    this.#emit(false);
    this.#scheduleReconnect(why);
  }

  #scheduleReconnect(why: string): void {
    if (!this.#running) return;
    this.reconnects++;
    this.#metrics.reconnects.inc({ kind: 'modbus', port: this.opts.key });
    const delay = this.#backoff.next();
    this.#log.warn({ delayMs: delay, why }, 'modbus bus unavailable, retrying');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#connecting = this.#connect();
    }, delay);
  }

  #emit(open: boolean): void {
    for (const fn of this.#listeners) fn(open);
  }

  async #close(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await closeClient(c);
  }

  /**
   * Runs one request for `unitId` with the bus to itself. Rejects with an AdapterError (stable code) on failure;
   * after a timeout or a corrupt frame on RTU it waits out the line before releasing the bus, so a late answer is
   * not taken for the next request's.
   */
  run<T>(unitId: number, timeoutMs: number, fn: (c: ModbusClient) => Promise<T>): Promise<T> {
    const task = this.#queue.then(async () => {
      const c = this.#client;
      if (c && !c.isOpen) this.#lost(c, this.lastError ?? 'port closed');
      if (!c?.isOpen) throw new AdapterError('GW_ERR_MODBUS_PORT', this.lastError ?? 'port not open');
      c.setID(unitId);
      c.setTimeout(timeoutMs);
      // modbus-serial times requests out itself; this bound only keeps the queue moving if one never settles.
      let guard: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        guard = setTimeout(
          () => reject(new AdapterError('GW_ERR_MODBUS_TIMEOUT', 'response timeout (request never settled)')),
          timeoutMs * 2 + 1000,
        );
      });
      const request = fn(c);
      // If the guard wins, a late settlement of the request must not surface as an unhandled rejection.
      request.catch(() => undefined);
      try {
        return await Promise.race([request, stuck]);
      } catch (err) {
        const e = classify(err);
        if (this.opts.transport === 'rtu' && (e.code === 'GW_ERR_MODBUS_TIMEOUT' || e.code === 'GW_ERR_MODBUS_CRC'))
          await this.#drain(c);
        throw e;
      } finally {
        clearTimeout(guard);
      }
    });
    this.#queue = task.catch(() => undefined);
    return task;
  }

  async #drain(c: ModbusClient): Promise<void> {
    // Time for a maximal RTU frame (256 bytes, 11 bits each) plus margin, then drop whatever arrived.
    const ms = Math.ceil((256 * 11 * 1000) / this.opts.baudRate) + 20;
    await new Promise<void>((resolve) => setTimeout(resolve, ms));
    const port = (c as unknown as { _port?: { _buffer?: Buffer } })._port;
    if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
  }
}

function closeQuietly(c: ModbusClient): void {
  try {
    // Not destroy(): it drops pending requests' timers without failing them, so they would never settle.
    if (c.isOpen) c.close(() => undefined);
  } catch {
    // already closed
  }
}

/** A client whose open failed: nothing is pending on it, so destroy() is safe and stops a TCP connect under way. */
function abandon(c: ModbusClient): void {
  try {
    c.destroy(() => undefined);
  } catch {
    // the port never existed
  }
}

function closeClient(c: ModbusClient): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!c.isOpen) {
      resolve();
      return;
    }
    try {
      c.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
