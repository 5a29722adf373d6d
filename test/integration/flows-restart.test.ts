// Deploys persist: a flow deployed through the admin API is running again after the gateway process restarts, and
// the shipped flows are not re-installed over it. The runtime runs in a child process (one Node-RED per process).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHILD = path.join(import.meta.dirname, 'flows-child.ts');
let dataDir: string;
const children: ChildProcess[] = [];

async function startChild(): Promise<{ base: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CHILD, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`child exited with ${code} before it was ready`);
  });
  const ready = (async () => {
    for await (const line of lines) {
      const m = JSON.parse(line) as { port?: number };
      if (m.port) return m.port;
    }
    throw new Error('child closed stdout');
  })();
  const port = await Promise.race([ready, exited]);
  return { base: `http://127.0.0.1:${port}`, child };
}

async function stopChild(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  return code as number | null;
}

const headers = { 'content-type': 'application/json', 'node-red-api-version': 'v2' };

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'flows-restart-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('flows across a restart', () => {
  it('keeps a deployed flow and runs it again', async () => {
    const first = await startChild();
    const current = (await (await fetch(`${first.base}/editor/flows`, { headers })).json()) as {
      flows: Array<Record<string, unknown>>;
      rev: string;
    };
    // Replace the door-lock flow's Kafka topic and add a flow of our own.
    const flows = current.flows.map((n) => (n['id'] === 'locks_state_out' ? { ...n, kafkaTopic: 'lock_state_v2' } : n));
    flows.push(
      { id: 'r_tab', type: 'tab', label: 'restart check' },
      { id: 'r_in', z: 'r_tab', type: 'gateway in', topic: 'restart/+/x', x: 100, y: 100, wires: [[]] },
    );
    const res = await fetch(`${first.base}/editor/flows`, {
      method: 'POST',
      headers: { ...headers, 'node-red-deployment-type': 'full' },
      body: JSON.stringify({ flows, rev: current.rev }),
    });
    expect(res.status).toBe(200);
    expect(await stopChild(first.child)).toBe(0);

    const second = await startChild();
    const after = (await (await fetch(`${second.base}/editor/flows`, { headers })).json()) as {
      flows: Array<Record<string, unknown>>;
    };
    expect(after.flows.find((n) => n['id'] === 'locks_state_out')?.['kafkaTopic']).toBe('lock_state_v2');
    expect(after.flows.some((n) => n['id'] === 'r_in')).toBe(true);
    const taps = (await (await fetch(`${second.base}/test/taps`)).json()) as Array<{ id: string; filter: string }>;
    expect(taps).toEqual(
      expect.arrayContaining([
        { id: 'r_in', filter: 'restart/+/x' },
        { id: 'locks_in', filter: 'devices/+/state' },
      ]),
    );
    expect(await stopChild(second.child)).toBe(0);
  });
});
