// The real Node-RED runtime of flows/ on an HTTP server of its own, fed by a real Ingest on a temporary store, with
// its log lines kept for the test to read. Node-RED is one runtime per process: one rig per test file.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { FlowRuntime, type FlowRuntimeContext } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import { openIngest } from './ingest.ts';

export interface FlowRig {
  /** http://127.0.0.1:<port>, whatever address the server listens on. */
  base: string;
  runtime: FlowRuntime;
  logLines: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface FlowRigOptions {
  /** Where the server listens: 0.0.0.0 makes the editor reachable from the network (the test talks to 127.0.0.1). */
  host: '127.0.0.1' | '0.0.0.0';
  /** The flows config before defaults. */
  flows: Record<string, unknown>;
  security?: FlowRuntimeContext['security'];
}

export async function startFlowRig(o: FlowRigOptions): Promise<FlowRig> {
  const h = await openIngest();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flows-rig-'));
  const app = express();
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, o.host, resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = Value.Default(FlowsSchema, o.flows) as FlowsConfig;
  const logLines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  const runtime = new FlowRuntime({
    config,
    bus: h.ingest,
    log,
    metrics: new Registry(),
    app,
    server,
    dataDir,
    ...(o.security ? { security: o.security } : {}),
  });
  await runtime.start();
  return {
    base,
    runtime,
    logLines,
    async close() {
      await runtime.stop();
      await new Promise((resolve) => server.close(resolve));
      await h.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Asks the editor's admin API for a token as `username` (adminAuth's password grant). */
export function editorToken(base: string, username: string, password: string): Promise<Response> {
  return fetch(`${base}/editor/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password }),
  });
}
