// The operator status page at / in a real browser (Debian's chromium, headless, nothing fetched off the box) against
// the real gateway process: the figures it shows are those of /healthz, the charts draw the history ring, and the
// access rule holds (loopback only without a token; with security.http.token the JSON needs it and the page sends it).
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'status-page-token-0123456789';
const PUBLISHED = 7;

let browser: BrowserContext;
let profileDir: string;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  profileDir = mkdtempSync(join(tmpdir(), 'status-chromium-'));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    viewport: { width: 1400, height: 1100 },
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  rmSync(profileDir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

/** A page that may load nothing from off the box; console errors and page errors are collected. */
async function openPage(base: string): Promise<{ page: Page; errors: string[]; offsite: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const offsite: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith('data:')) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  return { page, errors, offsite };
}

async function publish(gw: GatewayProcess, n: number): Promise<void> {
  const c = await mqtt.connectAsync(gw.url, { clientId: 'lock-1', clean: true });
  for (let i = 0; i < n; i++) await c.publishAsync('devices/lock-1/state', `{"locked":${i % 2 === 0}}`, { qos: 1 });
  await c.endAsync();
}

/** An IPv4 address of this host that is not loopback, if it has one. */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

interface Health {
  gatewayId: string;
  backlog: { records: number; classes: Record<string, { records: number; policy: string }> };
  devices: { online: number };
}

it('shows the figures of /healthz, charts the history and keeps its JSON to loopback without a token', async () => {
  // Listening on every address (anonymous MQTT makes that a valid config): a request can come from off loopback.
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: '',
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_HTTP_HOST: '0.0.0.0',
      GATEWAY_SECURITY_ANONYMOUS: 'true',
      GATEWAY_GATEWAY_ID: 'gw-status-page',
    },
  });
  gateways.push(gw);
  await gw.start();
  const base = `http://127.0.0.1:${gw.httpPort}`;
  expect(gw.output).toContain('status page at / served to loopback clients only');
  await publish(gw, PUBLISHED);
  await waitFor(
    'the records in the backlog',
    async () => (await gw.metric('gateway_backlog_records', { class: 'default' })) === PUBLISHED,
  );

  const { page, errors, offsite } = await openPage(base);
  await page.goto(`${base}/`);
  const h = (await gw.health()) as unknown as Health;
  expect(h.backlog.classes['default']?.records).toBe(PUBLISHED);
  await expect.poll(() => page.locator('#gateway-id').textContent(), { timeout: 30_000 }).toBe(h.gatewayId);
  const cell = (cls: string, field: string) =>
    page.locator(`#classes tr[data-class="${cls}"] td[data-field="${field}"]`);
  await expect.poll(() => cell('default', 'records').textContent(), { timeout: 30_000 }).toBe(String(PUBLISHED));
  expect(await cell('default', 'policy').textContent()).toBe(h.backlog.classes['default']?.policy);
  expect(await page.locator('#kafka dd[data-field="link"]').textContent()).toBe('not_configured');

  // The ring gains a sample every 5 s; the page redraws it without a reload.
  await waitFor(
    'two samples in the history',
    async () => ((await (await fetch(`${base}/api/status/history`)).json()) as { size: number }).size >= 2,
    60_000,
  );
  const refreshed = Number(await page.locator('body').getAttribute('data-refreshes'));
  await expect
    .poll(async () => Number(await page.locator('body').getAttribute('data-refreshes')), { timeout: 30_000 })
    .toBeGreaterThan(refreshed);
  const hist = (await (await fetch(`${base}/api/status/history`)).json()) as {
    size: number;
    samples: { t: number[]; records: number[] };
  };
  expect(hist.samples.t.length).toBe(hist.size);
  // The last sample's backlog is what /healthz says (the events of lock-1's connect and disconnect included).
  expect(hist.samples.records.at(-1)).toBe(((await gw.health()) as unknown as Health).backlog.records);
  expect(hist.samples.records.at(-1)).toBeGreaterThanOrEqual(PUBLISHED);
  expect(await page.locator('#chart-backlog canvas').count()).toBe(1);
  expect(await page.locator('#chart-rates canvas').count()).toBe(1);
  await expect.poll(() => page.locator('#disconnects td').first().textContent(), { timeout: 30_000 }).toBe('lock-1');

  const shot = join(repoRoot, 'test-results', 'status-page.png');
  mkdirSync(join(repoRoot, 'test-results'), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(10_000);
  expect(errors).toEqual([]);
  expect(offsite).toEqual([]);
  await page.close();

  // From an address of this host that is not loopback, nothing of the page is served.
  const lan = lanAddress();
  if (lan === undefined) return; // no such interface here: test/unit/status-access.test.ts covers the decision
  for (const path of ['/', '/status/status.js', '/api/status/history', '/api/status/disconnects']) {
    const r = await fetch(`http://${lan}:${gw.httpPort}${path}`);
    expect(r.status, path).toBe(403);
  }
  expect((await fetch(`${base}/api/status/history`)).status).toBe(200);
  await waitFor('the refusal logged', () => gw.output.includes('status page refused to a client off this host'));
});

it('with security.http.token: the JSON needs the token, the page asks for it and then shows the figures', async () => {
  const gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: '', GATEWAY_FLOWS_ENABLED: 'false', GATEWAY_SECURITY_HTTP_TOKEN: TOKEN },
  });
  gateways.push(gw);
  await gw.start();
  const base = `http://127.0.0.1:${gw.httpPort}`;
  expect((await fetch(`${base}/`)).status).toBe(200);
  expect((await fetch(`${base}/api/status/history`)).status).toBe(401);
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
  expect((await fetch(`${base}/api/status/history`, auth)).status).toBe(200);

  const { page, offsite } = await openPage(base);
  await page.goto(`${base}/`);
  await page.locator('#token-form').waitFor({ state: 'visible', timeout: 30_000 });
  await page.fill('#token', 'wrong-token');
  await page.press('#token', 'Enter');
  await expect
    .poll(() => page.locator('#token-error').textContent(), { timeout: 30_000 })
    .toBe('the gateway refused this token');
  await page.fill('#token', TOKEN);
  await page.press('#token', 'Enter');
  await expect.poll(() => page.locator('#gateway-id').textContent(), { timeout: 30_000 }).toBe('gw-test');
  expect(await page.locator('#token-form').isHidden()).toBe(true);
  expect(await page.evaluate(() => sessionStorage.getItem('gateway-status-token'))).toBe(TOKEN);
  expect(offsite).toEqual([]);
  await page.close();
});
