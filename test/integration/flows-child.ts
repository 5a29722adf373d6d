// A gateway-like child process for the flows restart test: FlowRuntime on an Express 4 app with the real ingest
// path, its store in the data dir from argv. Prints {"port"} when the flows run; exposes the registered taps at /test/taps; stops cleanly
// on SIGTERM.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { FlowRuntime } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import { openIngest } from '../harness/ingest.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: flows-child.ts <dataDir>');
const h = await openIngest({ dir: dataDir });
const app = express();
app.get('/test/taps', (_req, res) => {
  res.json(h.ingest.flowInputs());
});
const server = createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const runtime = new FlowRuntime({
  config: Value.Default(FlowsSchema, {}) as FlowsConfig,
  bus: h.ingest,
  log: pino({ level: 'warn' }, pino.destination(2)),
  metrics: new Registry(),
  app,
  server,
  dataDir,
});
await runtime.start();
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
process.once('SIGTERM', async () => {
  await runtime.stop();
  await h.close();
  server.close();
  process.exit(0);
});
