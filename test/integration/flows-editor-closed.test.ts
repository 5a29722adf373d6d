// Without flows.adminAuth and with the HTTP server reachable from the network, the real Node-RED runtime runs the
// flows but serves neither the editor nor the admin API: an anonymous deploy is refused with 401. Its own file:
// Node-RED is one runtime per process.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FlowRig, startFlowRig } from '../harness/flow-runtime.ts';

let rig: FlowRig;
let base: string;
let runtime: FlowRig['runtime'];
let logLines: FlowRig['logLines'];

beforeAll(async () => {
  // Every address: the editor would be reachable from the LAN. The test itself talks to 127.0.0.1 only.
  rig = await startFlowRig({ host: '0.0.0.0', flows: { credentialSecret: 'a-long-test-secret' } });
  ({ base, runtime, logLines } = rig);
}, 60_000);

afterAll(async () => {
  await rig?.close();
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
