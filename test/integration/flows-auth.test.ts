// Editor security from config: with adminAuth the admin API needs a token (bcrypt-checked password), and the log
// does not claim the editor is open. Its own file: Node-RED is one runtime per process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editorToken, type FlowRig, startFlowRig } from '../harness/flow-runtime.ts';

// bcrypt (cost 8) of 's3cret-pass'.
const PASSWORD_HASH = '$2b$08$k9e7TfJ8uVJGASSeAsmX4OaaoDh0WvrA.gxCgySmx7lwloMCQZRbq';

let rig: FlowRig;
let base: string;
let runtime: FlowRig['runtime'];
let logLines: FlowRig['logLines'];

beforeAll(async () => {
  rig = await startFlowRig({
    host: '127.0.0.1',
    flows: {
      adminAuth: { username: 'operator', passwordHash: PASSWORD_HASH },
      credentialSecret: 'a-long-test-secret',
      installDefaultFlows: false,
    },
  });
  ({ base, runtime, logLines } = rig);
});

afterAll(async () => {
  await rig?.close();
});

const token = (password: string): Promise<Response> => editorToken(base, 'operator', password);

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
