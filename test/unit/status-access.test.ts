// Who the status page is served to: anyone with security.http.token set (the JSON then needs the token, checked by
// the HTTP part); without it only clients on this host, whatever address the server listens on.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { accessGuard, accessMode, mayServe } from '../../gateway/status/access.ts';

describe('mayServe', () => {
  it('without a token: loopback clients only', () => {
    const mode = accessMode(false);
    expect(mode).toBe('loopback');
    for (const a of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1']) expect(mayServe(mode, a), a).toBe(true);
    for (const a of ['192.0.2.7', '10.0.0.1', '::ffff:192.0.2.7', 'fe80::1', '0.0.0.0', '::', undefined])
      expect(mayServe(mode, a), String(a)).toBe(false);
  });

  it('with a token: every client (the token is checked on the JSON)', () => {
    const mode = accessMode(true);
    expect(mode).toBe('token');
    for (const a of ['127.0.0.1', '192.0.2.7', undefined]) expect(mayServe(mode, a)).toBe(true);
  });
});

describe('accessGuard', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
  });

  it('answers 403 off loopback and names every refused address', async () => {
    const refused: (string | undefined)[] = [];
    const app = express();
    app.set('trust proxy', false);
    // The address the guard sees, as a reverse proxy on the host would make it look: a real socket from elsewhere
    // is what test/e2e/status-page.test.ts sends.
    app.use((req, _res, next) => {
      const from = req.headers['x-test-from'];
      if (typeof from === 'string') Object.defineProperty(req.socket, 'remoteAddress', { value: from });
      next();
    });
    app.get(
      '/',
      accessGuard('loopback', (a) => refused.push(a)),
      (_req, res) => {
        res.send('page');
      },
    );
    server = createServer(app);
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('page');
    const far = await fetch(url, { headers: { 'x-test-from': '192.0.2.9', connection: 'close' } });
    expect(far.status).toBe(403);
    expect(await far.text()).toContain('security.http.token');
    expect(refused).toEqual(['192.0.2.9']);
  });
});
