// kafkajs 2.2.4 arms `setTimeout(fn, throttledUntil - Date.now())` in its request queue while `throttledUntil` is -1
// (src/network/requestQueue/index.js, scheduleCheckPendingRequests): a negative delay that Node 24 reports as a
// TimeoutNegativeWarning at every connection (kafkajs issue #1751, not fixed in a release). Node runs such a timer
// after 1 ms anyway; this replaces the method with one that clamps the delay at 0 — same schedule, no warning.
// Applied once per process, by kafkajsConfig() (cloud-sync/sinks/kafkajs-connection.ts), which builds every kafkajs
// client of the gateway, and by the device simulator's reader.
import { createRequire } from 'node:module';

interface RequestQueue {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' own interval for re-checking pending requests when it is not throttled. */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;
let applied = false;

export function quietNegativeTimeouts(): void {
  if (applied) return;
  applied = true;
  const require = createRequire(import.meta.url);
  const queue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueue };
  queue.prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      Math.max(0, scheduleAt),
    );
  };
}
