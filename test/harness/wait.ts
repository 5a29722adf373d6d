// Waiting in tests: vitest's own vi.waitFor, with the reason in the failure. A condition that returns false (or
// throws) is asked again every `everyMs` until `timeoutMs`; then the test fails naming what it waited for.
// Scripts that run outside vitest (bench, the fuzz driver, the chaos runner) use pollUntil of gateway-process.ts.
import { vi } from 'vitest';

export async function waitFor(
  what: string,
  fn: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await fn())) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: everyMs },
  );
}
