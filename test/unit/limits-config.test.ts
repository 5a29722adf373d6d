// Config rules of the limits, HTTP and editor settings: the editor is never configured open to the network, and
// every problem names its key.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../app/config/index.ts';
import { isLoopback } from '../../gateway/limits/loopback.ts';

function problems(env: Record<string, string>, yaml?: string): string[] {
  const argv: string[] = [];
  if (yaml !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-limits-')), 'gateway.yaml');
    writeFileSync(file, yaml);
    argv.push('--config', file);
  }
  try {
    loadConfig({ env, argv });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const HASH = '$2b$08$k9e7TfJ8uVJGASSeAsmX4OaaoDh0WvrA.gxCgySmx7lwloMCQZRbq';

describe('limits and editor config', () => {
  it('takes the defaults: 64 KiB before CONNECT, 1 MiB after, 10 s connect timeout', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.security.limits).toMatchObject({
      maxPacketBytesBeforeConnect: 65536,
      maxPacketBytes: 1048576,
      connectTimeoutMs: 10000,
      maxConnections: 10000,
      maxConnectionsPerAddress: 1000,
    });
    expect(cfg.security.http).toEqual({ tls: { cert: '', key: '' }, allowedOrigins: [], token: '' });
    expect(cfg.security.editor).toEqual({ allowNodes: [] });
    expect(cfg.classes.default?.perDeviceShare).toBe(0.5);
  });

  it('refuses an editor without adminAuth on a non-loopback http.host, with one clear line', () => {
    const p = problems({ GATEWAY_HTTP_HOST: '0.0.0.0' });
    const line = p.find((l) => l.startsWith('flows.adminAuth'));
    expect(line).toMatch(
      /flows\.adminAuth: is required when http\.host \("0\.0\.0\.0"\) is reachable from the network/,
    );
    expect(problems({ GATEWAY_HTTP_HOST: '127.0.0.1' }).some((l) => l.startsWith('flows.adminAuth'))).toBe(false);
    expect(
      problems({ GATEWAY_HTTP_HOST: '0.0.0.0', GATEWAY_FLOWS_ENABLED: 'false' }).some((l) =>
        l.startsWith('flows.adminAuth'),
      ),
    ).toBe(false);
    expect(
      problems(
        { GATEWAY_HTTP_HOST: '0.0.0.0' },
        `flows:\n  adminAuth:\n    username: operator\n    passwordHash: '${HASH}'\n`,
      ).some((l) => l.startsWith('flows.adminAuth')),
    ).toBe(false);
  });

  it('checks the limits, TLS pair and allowed node names', () => {
    const p = problems({
      GATEWAY_HTTP_HOST: '127.0.0.1',
      GATEWAY_SECURITY_LIMITS_MAX_PACKET_BYTES_BEFORE_CONNECT: '1048576',
      GATEWAY_SECURITY_LIMITS_MAX_PACKET_BYTES: '65536',
      GATEWAY_SECURITY_LIMITS_CONNECT_TIMEOUT_MS: '30000',
      GATEWAY_SECURITY_HTTP_TLS_CERT: '/etc/cert.pem',
      GATEWAY_SECURITY_EDITOR_ALLOW_NODES: '90-exec.js,rm-rf.js',
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^security\.limits\.maxPacketBytesBeforeConnect: .*must not exceed/),
        expect.stringMatching(/^security\.limits\.connectTimeoutMs: must be integer <= 10000/),
        expect.stringMatching(/^security\.http\.tls: cert and key must be set together/),
        expect.stringMatching(/^security\.editor\.allowNodes\[1\]: "rm-rf\.js" is not an excluded node file/),
      ]),
    );
    expect(p.some((l) => l.includes('allowNodes[0]'))).toBe(false);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopback(h)).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '192.168.1.10', 'gateway.local', '']) expect(isLoopback(h)).toBe(false);
  });
});
