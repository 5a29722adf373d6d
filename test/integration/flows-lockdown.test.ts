// The real Node-RED runtime with flows.adminAuth on a server reachable from the network: anonymous deploys and
// diagnostics are refused with 401, system-touching nodes (exec, file, tcp, udp, http request, ...) are not in the
// palette unless allowed, and every deploy is logged with its user. Its own file: Node-RED is one runtime per process.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { editorToken, type FlowRig, startFlowRig } from '../harness/flow-runtime.ts';

// bcrypt (cost 8) of 's3cret-pass'.
const PASSWORD_HASH = '$2b$08$k9e7TfJ8uVJGASSeAsmX4OaaoDh0WvrA.gxCgySmx7lwloMCQZRbq';

let rig: FlowRig;
let base: string;
let runtime: FlowRig['runtime'];
let logLines: FlowRig['logLines'];
let bearer: string;

beforeAll(async () => {
  rig = await startFlowRig({
    host: '0.0.0.0',
    flows: {
      adminAuth: { username: 'operator', passwordHash: PASSWORD_HASH },
      credentialSecret: 'a-long-test-secret',
      installDefaultFlows: false,
    },
    // The operator asked for the UDP nodes back; every other system-touching node stays out.
    security: { allowNodes: ['32-udp.js'] },
  });
  ({ base, runtime, logLines } = rig);
  const res = await editorToken(base, 'operator', 's3cret-pass');
  bearer = `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
}, 60_000);

afterAll(async () => {
  await rig?.close();
});

function deploy(headers: Record<string, string>): Promise<Response> {
  return fetch(`${base}/editor/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full', ...headers },
    body: JSON.stringify({ flows: [{ id: 't1', type: 'tab', label: 'door locks' }] }),
  });
}

it('refuses an anonymous deploy and anonymous diagnostics with 401', async () => {
  expect((await deploy({})).status).toBe(401);
  expect((await fetch(`${base}/editor/diagnostics`)).status).toBe(401);
});

it('leaves exec, file, tcp, http request, websocket and mqtt nodes out of the palette, keeps the allowed udp', async () => {
  const res = await fetch(`${base}/editor/nodes`, { headers: { accept: 'application/json', authorization: bearer } });
  expect(res.status).toBe(200);
  const types = ((await res.json()) as Array<{ types: string[] }>).flatMap((set) => set.types);
  expect(types).toContain('function');
  expect(types).toContain('gateway in');
  expect(types).toEqual(expect.arrayContaining(['udp in', 'udp out']));
  for (const t of ['exec', 'file', 'file in', 'watch', 'tcp in', 'tcp request', 'http request']) {
    expect(types).not.toContain(t);
  }
  expect(types).not.toContain('websocket in');
  expect(types).not.toContain('mqtt out');
});

it('logs every deploy with its user, the refused one at warn', async () => {
  expect((await deploy({ authorization: bearer, 'node-red-api-version': 'v2' })).status).toBe(200);
  await expect
    .poll(() => logLines.filter((l) => l['msg'] === 'flows deployed').map((l) => l['user']))
    .toEqual(['operator']);
  const refused = logLines.filter((l) => l['msg'] === 'flows deploy refused');
  expect(refused.length).toBeGreaterThanOrEqual(1);
  expect(refused[0]).toMatchObject({ level: 40, status: 401 });
  expect(runtime.health()).toMatchObject({ editorServed: true, editorOpen: false });
});
