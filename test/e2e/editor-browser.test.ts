// Runs the browser check of the flow editor (test/browser/editor.ts: Debian's chromium, headless, no background
// networking) as part of the suite: gateway nodes in the palette, shipped flows on the canvas, a screenshot saved.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../harness/kafka.ts';

it('the flow editor shows the gateway nodes and the shipped flows in a real browser', () => {
  const shot = join(repoRoot, 'test-results', 'flows-editor.png');
  const r = spawnSync(process.execPath, [join(repoRoot, 'test', 'browser', 'editor.ts'), shot], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(existsSync(shot)).toBe(true);
  expect(statSync(shot).size).toBeGreaterThan(10_000);
});
