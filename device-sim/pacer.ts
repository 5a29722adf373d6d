// A shared rate limit: the n-th message overall may go at start + n / rate. Many devices awaiting one pacer give an
// even total rate without a token-bucket timer per device.
import { setTimeout as delay } from 'node:timers/promises';

export class Pacer {
  private readonly intervalMs: number;
  private issued = 0;
  private start = 0;

  /** rate = messages per second in total; 0 or undefined means no limit. */
  constructor(rate?: number) {
    this.intervalMs = rate && rate > 0 ? 1000 / rate : 0;
  }

  async take(signal?: AbortSignal): Promise<void> {
    if (this.intervalMs === 0) return;
    const now = performance.now();
    if (this.issued === 0) this.start = now;
    const at = this.start + this.issued * this.intervalMs;
    this.issued++;
    // Never let an idle period bank a burst larger than one second's worth.
    if (at < now - 1000) {
      this.start = now - (this.issued - 1) * this.intervalMs;
      return;
    }
    if (at > now) await delay(at - now, undefined, signal ? { signal } : {});
  }
}
