// Connection limits of the MQTT listeners: connections in total and per address, and packet sizes checked on the
// fixed header before the body is buffered. Every refusal is counted in gateway_limit_refusals_total{limit} and
// logged at warn, at most once per limit every 10 s (with the number of refusals not logged since).
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { type PacketRefusal, PacketScanner } from './packet.ts';
import type { LimitsConfig } from './schema.ts';

export type LimitName =
  | PacketRefusal
  | 'connections'
  | 'connections_per_address'
  | 'ws_origin'
  | 'http_token'
  | 'http_loopback_only';
const LIMIT_NAMES: readonly LimitName[] = [
  'packet_before_connect',
  'packet_size',
  'malformed_length',
  'connections',
  'connections_per_address',
  'ws_origin',
  'http_token',
  'http_loopback_only',
];
const WARN_EVERY_MS = 10_000;

export interface LimitsContext {
  config: LimitsConfig;
  registry: Registry;
  log: Logger;
}

/** `::ffff:10.0.0.7` and `10.0.0.7` are one address. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export class Limits {
  readonly config: LimitsConfig;
  private readonly log: Logger;
  private readonly refusals: Counter<'limit'>;
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly scanners = new WeakMap<object, PacketScanner>();
  private readonly warned = new Map<LimitName, { at: number; suppressed: number }>();

  constructor(ctx: LimitsContext) {
    this.config = ctx.config;
    this.log = ctx.log;
    this.refusals = new Counter({
      name: 'gateway_limit_refusals_total',
      help: 'Connections, packets and HTTP requests refused by a limit, by limit.',
      labelNames: ['limit'],
      registers: [ctx.registry],
    });
    for (const limit of LIMIT_NAMES) this.refusals.inc({ limit }, 0);
  }

  /** Connections counted now (all MQTT listeners). */
  get connections(): number {
    return this.total;
  }

  /**
   * Admits a new MQTT connection and puts the packet scanner in front of the parser. False: the socket was
   * destroyed and the refusal counted; the caller must not hand it to the broker.
   */
  admit(socket: Duplex, remoteAddress: string | undefined): boolean {
    const address = normalizeAddress(remoteAddress);
    const { maxConnections, maxConnectionsPerAddress } = this.config;
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.total >= maxConnections) {
      this.refuse('connections', { address, maxConnections });
      socket.destroy();
      return false;
    }
    if (fromAddress >= maxConnectionsPerAddress) {
      this.refuse('connections_per_address', { address, maxConnectionsPerAddress });
      socket.destroy();
      return false;
    }
    this.total++;
    this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.total--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
    this.guard(socket, address);
    return true;
  }

  /**
   * aedes pulls each batch of bytes with `conn.read()` (lib/client.js nextBatch) and hands it to mqtt-packet, which
   * buffers a packet until it is complete. Scanning at that point sees every byte first, with no extra stream in
   * the data path; a refused chunk never reaches the parser.
   */
  private guard(socket: Duplex, address: string): void {
    const scanner = new PacketScanner({
      beforeConnect: this.config.maxPacketBytesBeforeConnect,
      afterConnect: this.config.maxPacketBytes,
    });
    this.scanners.set(socket, scanner);
    const read = socket.read.bind(socket);
    socket.read = (size?: number): unknown => {
      const chunk: unknown = read(size);
      if (!(chunk instanceof Uint8Array)) return chunk;
      const refusal = scanner.scan(chunk);
      if (refusal === undefined) return chunk;
      this.refuse(refusal, {
        address,
        claimedBytes: scanner.claimed,
        limitBytes: refusal === 'packet_size' ? this.config.maxPacketBytes : this.config.maxPacketBytesBeforeConnect,
      });
      socket.read = () => null;
      socket.destroy();
      return null;
    };
  }

  /** The client on `conn` completed CONNECT: its packets are held to maxPacketBytes from now on. */
  connected(conn: object): void {
    this.scanners.get(conn)?.connect();
  }

  /** Counts a refusal and logs it at warn, rate-limited per limit. */
  refuse(limit: LimitName, fields: Record<string, unknown>): void {
    this.refusals.inc({ limit });
    const now = Date.now();
    const w = this.warned.get(limit);
    if (w && now - w.at < WARN_EVERY_MS) {
      w.suppressed++;
      return;
    }
    this.warned.set(limit, { at: now, suppressed: 0 });
    this.log.warn({ limit, ...fields, ...(w?.suppressed ? { notLogged: w.suppressed } : {}) }, 'refused by a limit');
  }
}
