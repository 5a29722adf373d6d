// Modbus adapter throughput: registers/s on one RTU bus (115200 baud, socat pty) against the line's theoretical frame
// limit, and Modbus TCP polls/s for 50 devices. Baseline in the same run: a bare modbus-serial client reading in a
// tight loop on the same peer, i.e. the library without our queue, coalescing, decoding and publishing.
//
//   node bench/adapters.ts [--seconds 5]
//
// The slave is the test fixture slave in this same process (it shares the CPU). A pty moves bytes as fast as the
// kernel copies them: it does not pace them at the configured baud rate, so the RTU rows measure processing cost and
// the "line limit" column says what a real 115200 baud line would allow.
import os from 'node:os';
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import type { Adapters } from '../gateway/adapters/index.ts';
import { startAdapters } from '../test/fixtures/modbus-harness.ts';
import { PtyPair } from '../test/fixtures/modbus-pty.ts';
import { ModbusSlave } from '../test/fixtures/modbus-slave.ts';

const Client = ModbusSerial as unknown as new () => ModbusRTU;
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 5;
const BAUD = 115200;

/** Transactions/s a real RTU line allows: request + response frames at 10 bits/char (8N1) plus 3.5-char gaps. */
function rtuLineLimit(registers: number): number {
  const charMs = (10 * 1000) / BAUD;
  // Modbus over serial line v1.02 §2.5.1.1: above 19200 baud use a fixed 1.75 ms inter-frame gap.
  const gapMs = BAUD > 19200 ? 1.75 : 3.5 * charMs;
  const request = 8;
  const response = 5 + 2 * registers;
  return 1000 / ((request + response) * charMs + 2 * gapMs);
}

function totalPolls(a: Adapters): number {
  const m = a.health().modbus as Record<string, { polls: number }>;
  return Object.values(m).reduce((n, d) => n + d.polls, 0);
}

async function measureAdapters(a: Adapters): Promise<number> {
  // Warm up until every device polled once, then count over the window.
  const deadline = Date.now() + 10_000;
  while (Object.values(a.health().modbus as Record<string, { polls: number }>).some((d) => d.polls < 2)) {
    if (Date.now() > deadline) throw new Error('devices did not start polling');
    await new Promise((r) => setTimeout(r, 10));
  }
  const p0 = totalPolls(a);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return ((totalPolls(a) - p0) * 1000) / (performance.now() - t0);
}

async function bareLoop(clients: ModbusRTU[], registers: number): Promise<number> {
  let n = 0;
  let running = true;
  const loops = clients.map(async (c) => {
    while (running) {
      await c.readHoldingRegisters(0, registers);
      n++;
    }
  });
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = performance.now() - t0;
  const done = n;
  await Promise.all(loops);
  return (done * 1000) / elapsed;
}

function registerPoints(count: number, publishOnChange = false) {
  return Array.from({ length: count }, (_, i) => ({ name: `r${i}`, address: i, publishOnChange }));
}

interface Row {
  scenario: string;
  impl: string;
  perSecond: number;
  unit: string;
  registersPerSecond: number;
  limit: string;
}

async function rtu(registers: number, rows: Row[]): Promise<void> {
  const line = await new PtyPair().open();
  const slave = new ModbusSlave([1]);
  const closeSlave = await slave.serveRtu(line.b, BAUD);
  try {
    const limit = rtuLineLimit(registers);
    const limitText = `${limit.toFixed(0)} req/s = ${(limit * registers).toFixed(0)} reg/s`;
    const bare = new Client();
    await bare.connectRTUBuffered(line.a, { baudRate: BAUD });
    bare.setID(1);
    bare.setTimeout(1000);
    const b = await bareLoop([bare], registers);
    await new Promise<void>((r) => bare.close(() => r()));
    rows.push({
      scenario: `RTU 115200, 1 device, ${registers} reg/poll`,
      impl: 'modbus-serial loop (baseline)',
      perSecond: b,
      unit: 'req/s',
      registersPerSecond: b * registers,
      limit: limitText,
    });
    for (const onChange of [false, true]) {
      const { adapters } = await startAdapters({
        modbus: [
          {
            name: 'bench',
            transport: 'rtu',
            path: line.a,
            baudRate: BAUD,
            pollIntervalMs: 0,
            timeoutMs: 1000,
            qos: 0,
            points: registerPoints(registers, onChange),
          },
        ],
      });
      const a = await measureAdapters(adapters);
      await adapters.stop();
      rows.push({
        scenario: `RTU 115200, 1 device, ${registers} reg/poll`,
        impl: onChange ? 'gateway adapters, unchanged values' : 'gateway adapters, publish every value',
        perSecond: a,
        unit: 'polls/s',
        registersPerSecond: a * registers,
        limit: limitText,
      });
    }
  } finally {
    await closeSlave();
    await line.dispose();
  }
}

async function tcp(devices: number, registers: number, rows: Row[]): Promise<void> {
  const servers = await Promise.all(
    Array.from({ length: devices }, async () => {
      const s = new ModbusSlave([1]);
      return s.serveTcp();
    }),
  );
  try {
    const clients = await Promise.all(
      servers.map(async (s) => {
        const c = new Client();
        await c.connectTCP('127.0.0.1', { port: s.port });
        c.setID(1);
        c.setTimeout(1000);
        return c;
      }),
    );
    const b = await bareLoop(clients, registers);
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.close(() => r()))));
    rows.push({
      scenario: `TCP, ${devices} devices, ${registers} reg/poll`,
      impl: 'modbus-serial loops (baseline)',
      perSecond: b,
      unit: 'req/s',
      registersPerSecond: b * registers,
      limit: '-',
    });
    for (const onChange of [false, true]) {
      const { adapters } = await startAdapters({
        modbus: servers.map((s, i) => ({
          name: `dev${i}`,
          port: s.port,
          pollIntervalMs: 0,
          timeoutMs: 1000,
          qos: 0,
          points: registerPoints(registers, onChange),
        })),
      });
      const a = await measureAdapters(adapters);
      await adapters.stop();
      rows.push({
        scenario: `TCP, ${devices} devices, ${registers} reg/poll`,
        impl: onChange ? 'gateway adapters, unchanged values' : 'gateway adapters, publish every value',
        perSecond: a,
        unit: 'polls/s',
        registersPerSecond: a * registers,
        limit: '-',
      });
    }
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

const rows: Row[] = [];
await rtu(125, rows);
await rtu(1, rows);
await tcp(50, 10, rows);

const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
console.log(`\nModbus adapters — ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${seconds} s per row`);
console.log(
  '("publish every value": publishOnChange off, one JSON message per register per poll into the ingest path\n' +
    ' (outbox on a temporary store, durability os);' +
    ' "unchanged values": publishOnChange on and the slave never changes, i.e. the cost of polling alone)\n',
);
const header = ['scenario', 'implementation', 'rate', 'registers/s', 'line limit (115200 8N1)'];
const table = rows.map((r) => [
  r.scenario,
  r.impl,
  `${r.perSecond.toFixed(0)} ${r.unit}`,
  r.registersPerSecond.toFixed(0),
  r.limit,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => (t[i] ?? '').length)));
const fmt = (cols: string[]) => `| ${cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
console.log(fmt(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const t of table) console.log(fmt(t));
