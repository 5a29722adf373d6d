// kafkajs 2.2.4's request queue arms a timer with a negative delay at every connection; Node 24 warns about it
// (TimeoutNegativeWarning). After quietNegativeTimeouts() the same call arms no negative timer.
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { quietNegativeTimeouts } from '../../cloud-sync/kafkajs-timers.ts';

interface Queue {
  scheduleCheckPendingRequests(): void;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
}
type QueueClass = new (o: Record<string, unknown>) => Queue;
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as QueueClass;

function delaysArmed(): number[] {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  const q = new RequestQueue({ maxInFlightRequests: null, requestTimeout: 1000, clientId: 't', broker: 'b' });
  q.scheduleCheckPendingRequests(); // what fulfilling the first response does
  const delays = spy.mock.calls.map((c) => Number(c[1]));
  spy.mockRestore();
  if (q.throttleCheckTimeoutId) clearTimeout(q.throttleCheckTimeoutId);
  return delays;
}

describe('kafkajs timers', () => {
  it('arms no negative timeout once patched', () => {
    expect(delaysArmed().some((d) => d < 0)).toBe(true); // the bug, as shipped
    quietNegativeTimeouts();
    const after = delaysArmed();
    expect(after.length).toBe(1);
    expect(after.every((d) => d >= 0)).toBe(true);
  });
});
