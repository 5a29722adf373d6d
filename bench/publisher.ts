#!/usr/bin/env node
// Load generator for the benchmarks: N MQTT clients publish fixed-size QoS 1 messages with a window of unacked
// publishes each, optionally rate-limited, and report msg/s and PUBACK latency percentiles as one JSON line.
// usage: node bench/publisher.ts <url> <clients> <messagesPerClient> <window> <totalRate|0> <payloadBytes>
import mqtt from 'mqtt';

const [url = 'mqtt://127.0.0.1:1883', c = '100', m = '1000', w = '16', r = '0', s = '256'] = process.argv.slice(2);
const clients = Number(c);
const perClient = Number(m);
const window = Number(w);
const rate = Number(r);
const size = Number(s);
// Payload: the send time (ms since epoch, decimal) padded with 'x', so a Kafka reader can compute end-to-end latency.
const payloadAt = (t: number): Buffer => Buffer.from(t.toFixed(3).padEnd(size, 'x'));

const conns = await Promise.all(
  Array.from({ length: clients }, (_, i) =>
    mqtt.connectAsync(url, { clientId: `bench-${process.pid}-${i}`, clean: true, reconnectPeriod: 0, keepalive: 60 }),
  ),
);
const lat = new Float64Array(clients * perClient);
let n = 0;
const start = performance.now();
// Rate limit: each client sends at rate/clients, spread evenly.
const interval = rate > 0 ? (1000 * clients) / rate : 0;

await Promise.all(
  conns.map(async (conn, ci) => {
    let inflight = 0;
    let wake: (() => void) | undefined;
    const t0 = performance.now() + (interval * ci) / clients;
    for (let k = 0; k < perClient; k++) {
      if (interval > 0) {
        const due = t0 + k * interval;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((res) => setTimeout(res, wait));
      }
      while (inflight >= window) await new Promise<void>((res) => (wake = res));
      inflight++;
      const sent = performance.now();
      conn.publish(`devices/bench-${ci}/telemetry`, payloadAt(performance.timeOrigin + sent), { qos: 1 }, (err) => {
        inflight--;
        if (!err) lat[n++] = performance.now() - sent;
        const wk = wake;
        wake = undefined;
        wk?.();
      });
    }
    while (inflight > 0) await new Promise<void>((res) => (wake = res));
  }),
);
const secs = (performance.now() - start) / 1000;
await Promise.all(conns.map((cn) => cn.endAsync()));
const sorted = lat.subarray(0, n).sort();
const pct = (p: number): number => sorted[Math.min(n - 1, Math.floor((p / 100) * n))] ?? 0;
console.log(JSON.stringify({ acked: n, seconds: secs, rate: n / secs, p50: pct(50), p99: pct(99), max: pct(100) }));
