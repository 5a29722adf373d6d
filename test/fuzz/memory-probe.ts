// Preloaded (`node --expose-gc --import ./test/fuzz/memory-probe.ts app/main.ts`) into the gateway child process
// of the fuzz run: on SIGUSR2 it collects garbage and appends one JSON line with the process's memory to the file
// named by MEMORY_PROBE_FILE, so the test compares live memory before and after, not what the collector has not
// reclaimed yet.
import { appendFileSync } from 'node:fs';

const file = process.env.MEMORY_PROBE_FILE;
const gc = (globalThis as { gc?: () => void }).gc;

/** Buffers and sockets are freed by finalizers that run after a collection: collect again once they have run. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (file) {
  process.on('SIGUSR2', () => {
    void collect().then(() => {
      appendFileSync(file, `${JSON.stringify({ gc: gc !== undefined, ...process.memoryUsage() })}\n`);
    });
  });
}
