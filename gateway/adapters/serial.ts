// One serial device that writes frames (text lines, JSON lines, NMEA 0183). A port that never appeared or went away
// (USB unplugged) is reopened with backoff while the rest of the gateway keeps running. serialport's callback API is
// adapted here and nowhere else.
import { access } from 'node:fs/promises';
import type { Logger } from 'pino';
import { SerialPort } from 'serialport';
import { Backoff } from '../backoff.ts';
import type { GatewayBus } from '../bus.ts';
import { decodeFrame, LineSplitter } from './framing.ts';
import type { AdapterMetrics } from './metrics.ts';
import { publishJson } from './publish.ts';
import type { SerialPortConfig } from './schema.ts';

export interface SerialContext {
  bus: GatewayBus;
  log: Logger;
  metrics: AdapterMetrics;
}

export class SerialDevice {
  readonly cfg: SerialPortConfig;
  readonly topic: string;
  readonly #ctx: SerialContext;
  readonly #log: Logger;
  readonly #splitter: LineSplitter;
  #port: SerialPort | null = null;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #backoff: Backoff;
  #opening: Promise<void> | undefined;
  #statusChain: Promise<void> = Promise.resolve();
  #overflowsSeen = 0;
  readonly #inflight = new Set<Promise<void>>();
  status: 'unknown' | 'online' | 'offline' = 'unknown';
  frames = 0;
  reconnects = 0;
  lastError: string | undefined;
  readonly errors: Record<string, number> = {};

  constructor(cfg: SerialPortConfig, ctx: SerialContext) {
    this.cfg = cfg;
    this.topic = cfg.topic === '' ? `serial/${cfg.name}` : cfg.topic;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ device: cfg.name, path: cfg.path });
    this.#splitter = new LineSplitter(cfg.delimiter, cfg.maxLineLength);
    this.#backoff = new Backoff({ initialMs: cfg.reconnectMinMs, maxMs: cfg.reconnectMaxMs, jitter: 0.2 });
  }

  start(): void {
    this.#running = true;
    this.#opening = this.#open();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    clearInterval(this.#watchdog);
    await this.#opening;
    const port = this.#port;
    this.#port = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    // Frames already read are handed over before the gateway's store and broker stop behind us.
    await Promise.allSettled([...this.#inflight]);
    await this.#statusChain;
  }

  async #open(): Promise<void> {
    if (!this.#running) return;
    const port = new SerialPort({
      path: this.cfg.path,
      baudRate: this.cfg.baudRate,
      dataBits: this.cfg.dataBits,
      parity: this.cfg.parity,
      stopBits: this.cfg.stopBits,
      autoOpen: false,
    });
    const err = await new Promise<Error | null>((resolve) => port.open((e) => resolve(e ?? null)));
    if (err) {
      this.#lost(`open failed: ${err.message}`);
      return;
    }
    if (!this.#running) {
      port.close(() => undefined);
      return;
    }
    this.#port = port;
    this.#backoff.reset();
    this.#splitter.reset();
    port.on('data', (chunk: Buffer) => this.#onData(chunk));
    port.on('error', (e: Error) => {
      this.lastError = e.message;
    });
    port.on('close', () => {
      if (this.#port !== port) return;
      this.#port = null;
      this.#lost('port closed');
    });
    this.#watch(port);
    this.#log.info('serial port open');
    this.#setStatus('online');
  }

  /**
   * A device node that vanishes (USB unplugged, pty closed) can leave serialport reading 0 bytes in a loop instead of
   * reporting a disconnect, so the path itself is checked while the port is open.
   */
  #watch(port: SerialPort): void {
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => {
      if (this.#port !== port) {
        clearInterval(this.#watchdog);
        return;
      }
      access(this.cfg.path).catch(() => {
        if (this.#port !== port) return;
        clearInterval(this.#watchdog);
        this.#port = null;
        port.close(() => undefined);
        this.#lost('device disappeared');
      });
    }, 500);
    this.#watchdog.unref();
  }

  #lost(why: string): void {
    this.lastError = why;
    this.#setStatus('offline', why);
    if (!this.#running) return;
    this.reconnects++;
    this.#ctx.metrics.reconnects.inc({ kind: 'serial', port: this.cfg.path });
    const delay = this.#backoff.next();
    this.#log.warn({ delayMs: delay, why }, 'serial port unavailable, retrying');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#opening = this.#open();
    }, delay);
  }

  #onData(chunk: Buffer): void {
    for (const line of this.#splitter.push(chunk)) {
      const r = decodeFrame(line, this.cfg);
      if (r === null) continue;
      if (!r.ok) {
        this.#error(r.reason);
        continue;
      }
      this.frames++;
      const body = { ...r.value, device: this.cfg.name, ts: Date.now() };
      const pending = this.#publish(this.topic, body, false).then(
        () => this.#ctx.metrics.values.inc({ kind: 'serial', device: this.cfg.name }),
        (err: unknown) => {
          this.#error('publish');
          this.#log.warn({ err }, 'publish failed');
        },
      );
      this.#inflight.add(pending);
      void pending.finally(() => this.#inflight.delete(pending));
    }
    while (this.#overflowsSeen < this.#splitter.overflows) {
      this.#overflowsSeen++;
      this.#error('overflow');
    }
  }

  #error(reason: string): void {
    this.errors[reason] = (this.errors[reason] ?? 0) + 1;
    this.#ctx.metrics.errors.inc({ kind: 'serial', device: this.cfg.name, reason });
  }

  #setStatus(status: 'online' | 'offline', error?: string): void {
    this.#ctx.metrics.online.set({ kind: 'serial', device: this.cfg.name }, status === 'online' ? 1 : 0);
    if (status === this.status) return;
    this.status = status;
    const body: Record<string, unknown> = { device: this.cfg.name, status, ts: Date.now() };
    if (error !== undefined) body.error = error;
    // Status changes are published in the order they happened.
    this.#statusChain = this.#statusChain
      .then(() => this.#publish(`${this.topic}/status`, body, true))
      .catch((err: unknown) => this.#log.warn({ err }, 'status publish failed'));
  }

  #publish(topic: string, body: unknown, retain: boolean): Promise<void> {
    return publishJson(this.#ctx.bus, this.cfg, topic, body, retain);
  }
}
