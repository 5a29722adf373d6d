// Browser check of the embedded flow editor: Debian's chromium (headless, no background networking: the box has no
// internet) opens the editor served by the gateway's HTTP server, finds the gateway nodes in the palette and the
// shipped flows on the canvas, and saves a screenshot.
//   node test/browser/editor.ts [screenshot.png]     (exits non-zero on failure)
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { Registry } from 'prom-client';
import { FlowRuntime } from '../../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../../flows/schema.ts';
import { openIngest } from '../harness/ingest.ts';

const shot = path.resolve(process.argv[2] ?? 'test-results/flows-editor.png');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const dataDir = await mkdtemp(path.join(tmpdir(), 'flows-browser-'));
const profileDir = await mkdtemp(path.join(tmpdir(), 'flows-chromium-'));
const app = express();
const server = createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const ingest = await openIngest();
const runtime = new FlowRuntime({
  config: Value.Default(FlowsSchema, {}) as FlowsConfig,
  bus: ingest.ingest,
  log: pino({ level: 'warn' }),
  metrics: new Registry(),
  app,
  server,
  dataDir,
});
await runtime.start();

// A fresh profile per run (Playwright takes it as the persistent context's user data dir).
const browser = await chromium.launchPersistentContext(profileDir, {
  executablePath: CHROMIUM,
  viewport: { width: 1600, height: 900 },
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let failed = false;
try {
  const page = await browser.newPage();
  const offsite: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith('data:')) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  await page.goto(`${base}/editor/`);

  // Palette: the "edge gateway" category holds the four gateway nodes.
  for (const type of ['gateway in', 'edge rule', 'cloud out', 'gateway out']) {
    await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).first().waitFor({ timeout: 30_000 });
  }
  const category = page.locator('.red-ui-palette-category', { hasText: 'edge gateway' });
  assert.equal(await category.count(), 1, 'palette category "edge gateway"');
  const inCategory = await category
    .locator('.red-ui-palette-node')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-palette-type')));
  assert.deepEqual([...inCategory].sort(), ['cloud out', 'edge rule', 'gateway in', 'gateway out']);

  // Canvas: the shipped flows are tabs; the door-lock flow's nodes are drawn.
  const tabs = await page.locator('#red-ui-workspace-tabs .red-ui-tab-label').allInnerTexts();
  for (const label of ['Door locks', 'Vehicles', 'Factory sensors']) assert.ok(tabs.includes(label), `tab ${label}`);
  const labels = page.locator('#red-ui-workspace-chart .red-ui-flow-node-label');
  await labels.first().waitFor({ timeout: 15_000 });
  const drawn = await labels.allTextContents();
  for (const text of ['lock state', 'cloud: message_state', 'low battery or failed unlock', 'cloud: lock_alarms']) {
    assert.ok(
      drawn.some((d) => d.includes(text)),
      `canvas shows "${text}" (saw ${drawn.join(' | ')})`,
    );
  }
  // Open the category so the screenshot shows it next to the flow.
  await category.locator('.red-ui-palette-header').scrollIntoViewIfNeeded();
  await mkdir(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  console.log(
    JSON.stringify({ ok: true, screenshot: shot, tabs, nodesOnCanvas: drawn.length, blockedOffsiteRequests: offsite }),
  );
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
  await runtime.stop();
  await ingest.close();
  await new Promise((resolve) => server.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
  await rm(profileDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
