#!/usr/bin/env node
// Lean MQTT 3.1.1 load generator for the benchmarks: pre-encoded QoS 1 PUBLISH packets written straight to sockets,
// PUBACKs parsed by hand, a window of unacknowledged publishes per connection, optional total rate. Its per-message
// cost is a fraction of a full client's, so the numbers describe the broker, not the load generator.
// usage: node bench/publisher-raw.ts <port> <clients> <messagesPerClient> <window> <totalRate|0> <payloadBytes>
// Prints one JSON line: acked, seconds, rate, p50, p99, max (PUBACK latency, ms).
// With BENCH_SIGNATURE_KEY=<accessKey>:<secret> each connection signs in with an HMAC-SHA256 signature of its client
// id (the gateway's `signature` method). Each connection publishes on devices/<its client id>/telemetry.
import { createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const [p = '1883', c = '100', m = '1000', w = '16', r = '0', s = '256'] = process.argv.slice(2);
const port = Number(p);
const clients = Number(c);
const perClient = Number(m);
const window = Number(w);
const rate = Number(r);
const size = Number(s);

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return out;
}

const signature = process.env.BENCH_SIGNATURE_KEY?.split(':');

function str(v: string | Buffer): Buffer {
  const b = Buffer.from(v);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

function connectPacket(clientId: string): Buffer {
  const [accessKey, secret] = signature ?? [];
  const creds =
    accessKey && secret
      ? [str(`Signature|${accessKey}|bench`), str(createHmac('sha256', secret).update(clientId).digest('base64'))]
      : [];
  const flags = creds.length > 0 ? 0xc2 : 0x02; // username + password when signing; clean session
  const body = Buffer.concat([
    Buffer.from([0, 4, 77, 81, 84, 84, 4, flags, 0, 60]), // "MQTT", level 4, keepalive 60 s
    str(clientId),
    ...creds,
  ]);
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body]);
}

const lat = new Float64Array(clients * perClient);
/** Set once every connection has its CONNACK and the clock runs. */
let started = false;
let nLat = 0;
let acked = 0;

class Conn {
  readonly sock: Socket;
  readonly topic: Buffer;
  readonly head: Buffer;
  sent = 0;
  inflight = 0;
  readonly sentAt = new Float64Array(65536);
  private buf: Buffer = Buffer.alloc(0);
  private connected: () => void = () => {};
  readonly ready: Promise<void>;
  done: () => void = () => {};
  readonly finished: Promise<void>;
  budget = Number.POSITIVE_INFINITY;
  private acked = false;

  constructor(i: number) {
    const clientId = `rawbench-${process.pid}-${i}`;
    this.topic = Buffer.from(`devices/${clientId}/telemetry`);
    const remaining = 2 + this.topic.length + 2 + size;
    this.head = Buffer.from([0x32, ...varint(remaining), this.topic.length >> 8, this.topic.length & 255]);
    this.sock = connect({ port, host: '127.0.0.1', noDelay: true });
    this.ready = new Promise((res) => {
      this.connected = res;
    });
    this.finished = new Promise((res) => {
      this.done = res;
    });
    this.sock.on('connect', () => this.sock.write(connectPacket(clientId)));
    this.sock.on('data', (d: Buffer) => this.onData(d));
    // Closed by the broker before its CONNACK (refused, or its connect timeout under load): say so, do not hang.
    this.sock.on('close', () => {
      if (!this.acked) {
        console.error(`connection ${i}: closed before the CONNACK`);
        process.exit(1);
      }
    });
    this.sock.on('error', (e) => {
      console.error(`connection ${i}: ${e.message}`);
      process.exit(1);
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let o = 0;
    const now = performance.now();
    while (o + 2 <= this.buf.length) {
      const type = (this.buf[o] as number) >> 4;
      const len = this.buf[o + 1] as number; // CONNACK and PUBACK have remaining length 2
      if (o + 2 + len > this.buf.length) break;
      if (type === 2) {
        this.acked = true;
        this.connected();
      } else if (type === 4) {
        const id = ((this.buf[o + 2] as number) << 8) | (this.buf[o + 3] as number);
        lat[nLat++] = now - (this.sentAt[id] as number);
        this.inflight--;
        acked++;
      }
      o += 2 + len;
    }
    this.buf = this.buf.subarray(o);
    // Not before the clock starts: a connection whose CONNACK came early would otherwise publish uncounted time.
    if (started) this.pump();
    if (this.sent >= perClient && this.inflight === 0) this.done();
  }

  pump(): void {
    let n = 0;
    this.sock.cork();
    while (this.inflight < window && this.sent < perClient && this.budget > 0) {
      const id = (this.sent % 65535) + 1;
      const t = performance.now();
      const pkt = Buffer.allocUnsafe(this.head.length + this.topic.length + 2 + size);
      this.head.copy(pkt, 0);
      let o = this.head.length;
      o += this.topic.copy(pkt, o);
      pkt[o++] = id >> 8;
      pkt[o++] = id & 255;
      pkt.write((performance.timeOrigin + t).toFixed(3).padEnd(size, 'x'), o, 'latin1');
      this.sentAt[id] = t;
      this.sock.write(pkt);
      this.sent++;
      this.inflight++;
      this.budget--;
      n++;
    }
    this.sock.uncork();
    if (n === 0 && this.sent >= perClient && this.inflight === 0) this.done();
  }
}

const conns = Array.from({ length: clients }, (_, i) => new Conn(i));
await Promise.all(conns.map((cn) => cn.ready));
const start = performance.now();
started = true;
let ticker: NodeJS.Timeout | undefined;
if (rate > 0) {
  // Every 2 ms each connection gets its share of the rate as a send budget.
  for (const cn of conns) cn.budget = 0;
  const perTick = (rate * 0.002) / clients;
  const credit = new Float64Array(clients);
  ticker = setInterval(() => {
    for (let i = 0; i < clients; i++) {
      const cn = conns[i] as Conn;
      credit[i] = Math.min((credit[i] as number) + perTick, window);
      const whole = Math.floor(credit[i] as number);
      credit[i] = (credit[i] as number) - whole;
      cn.budget = Math.min(cn.budget + whole, window);
      cn.pump();
    }
  }, 2);
} else {
  for (const cn of conns) cn.pump();
}
await Promise.all(conns.map((cn) => cn.finished));
if (ticker) clearInterval(ticker);
const secs = (performance.now() - start) / 1000;
for (const cn of conns) cn.sock.end(Buffer.from([0xe0, 0]));
const sorted = lat.subarray(0, nLat).sort();
const pct = (q: number): number => sorted[Math.min(nLat - 1, Math.floor((q / 100) * nLat))] ?? 0;
console.log(JSON.stringify({ acked, seconds: secs, rate: acked / secs, p50: pct(50), p99: pct(99), max: pct(100) }));
