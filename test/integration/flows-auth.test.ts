// Editor security from config: with adminAuth the admin API needs a token (bcrypt-checked password), and the log
// does not claim the editor is open. Its own file: Node-RED is one runtime per process.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowRuntime } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import { type IngestHarness, openIngest } from '../harness/ingest.ts';

// bcrypt (cost 8) of 's3cret-pass'.
const PASSWORD_HASH = '$2b$08$k9e7TfJ8uVJGASSeAsmX4OaaoDh0WvrA.gxCgySmx7lwloMCQZRbq';

let server: Server;
let base: string;
let dataDir: string;
let runtime: FlowRuntime;
let h: IngestHarness;
const logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  h = await openIngest();
  dataDir = await mkdtemp(path.join(tmpdir(), 'flows-auth-'));
  const app = express();
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = Value.Default(FlowsSchema, {
    adminAuth: { username: 'operator', passwordHash: PASSWORD_HASH },
    credentialSecret: 'a-long-test-secret',
    installDefaultFlows: false,
  }) as FlowsConfig;
  const log = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  runtime = new FlowRuntime({ config, bus: h.ingest, log, metrics: new Registry(), app, server, dataDir });
  await runtime.start();
});

afterAll(async () => {
  await runtime?.stop();
  await new Promise((resolve) => server?.close(resolve));
  await h?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function token(password: string): Promise<Response> {
  return fetch(`${base}/editor/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_id: 'node-red-admin',
      grant_type: 'password',
      scope: '*',
      username: 'operator',
      password,
    }),
  });
}

describe('editor security', () => {
  it('refuses the admin API without a token and with a wrong password', async () => {
    expect((await fetch(`${base}/editor/flows`)).status).toBe(401);
    expect((await token('wrong')).status).toBe(403);
  });

  it('accepts the configured user and password', async () => {
    const res = await token('s3cret-pass');
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    const flows = await fetch(`${base}/editor/flows`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(flows.status).toBe(200);
    expect(await flows.json()).toEqual([]);
  });

  it('does not warn that the editor is open, and never logs the secrets', () => {
    const text = logLines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toMatch(/editor is OPEN/);
    expect(text).not.toMatch(/credentialSecret not set/);
    expect(text).not.toContain('a-long-test-secret');
    expect(text).not.toContain('s3cret-pass');
    expect(runtime.health()).toMatchObject({ running: true, editorOpen: false });
  });
});
