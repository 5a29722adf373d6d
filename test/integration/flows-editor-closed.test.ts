// Without flows.adminAuth and with the HTTP server reachable from the network, the real Node-RED runtime runs the
// flows but serves neither the editor nor the admin API: an anonymous deploy is refused with 401. Its own file:
// Node-RED is one runtime per process.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FlowRuntime } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import { type IngestHarness, openIngest } from '../harness/ingest.ts';

let server: Server;
let base: string;
let dataDir: string;
let runtime: FlowRuntime;
let h: IngestHarness;
const logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  h = await openIngest();
  dataDir = await mkdtemp(path.join(tmpdir(), 'flows-closed-'));
  const app = express();
  server = createServer(app);
  // Every address: the editor would be reachable from the LAN. The test itself talks to 127.0.0.1 only.
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = Value.Default(FlowsSchema, { credentialSecret: 'a-long-test-secret' }) as FlowsConfig;
  const log = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  runtime = new FlowRuntime({ config, bus: h.ingest, log, metrics: new Registry(), app, server, dataDir });
  await runtime.start();
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  await new Promise((resolve) => server?.close(resolve));
  await h?.close();
  await rm(dataDir, { recursive: true, force: true });
});

it('refuses an anonymous deploy with 401 and serves no editor page', async () => {
  const deploy = await fetch(`${base}/editor/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' },
    body: JSON.stringify({ flows: [{ id: 't1', type: 'tab', label: 'owned' }] }),
  });
  expect(deploy.status).toBe(401);
  expect((await fetch(`${base}/editor/`)).status).toBe(401);
  expect((await fetch(`${base}/editor/flows`)).status).toBe(401);
  expect((await fetch(`${base}/editor/diagnostics`)).status).toBe(401);
});

it('keeps the flows running and says in the log how to open the editor', () => {
  expect(runtime.health()).toMatchObject({ running: true, editorServed: false, editorOpen: false });
  const warn = logLines.find((l) => String(l['msg']).startsWith('flow editor NOT served'));
  expect(warn?.['level']).toBe(40);
  expect(String(warn?.['msg'])).toContain('flows.adminAuth');
});
