// Repeated authentication failures from one address back off (as EMQX's flapping detection and fail2ban do): after
// `failures` refusals the address is refused outright for a period that doubles each time, up to `maxMs` (the
// gateway's backoff, without jitter: the period is the documented one).
import { backoffDelay } from '../backoff.ts';

export class Backoff {
  private readonly peers = new Map<string, { failures: number; level: number; until: number }>();
  private readonly failures: number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;

  constructor(failures: number, initialMs: number, maxMs: number, now: () => number = Date.now) {
    this.failures = failures;
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.now = now;
  }

  blocked(peer: string): boolean {
    const p = this.peers.get(peer);
    return p !== undefined && p.until > this.now();
  }

  failed(peer: string): void {
    if (peer === '') return;
    let p = this.peers.get(peer);
    if (!p) {
      if (this.peers.size >= 10_000) this.prune();
      p = { failures: 0, level: 0, until: 0 };
      this.peers.set(peer, p);
    }
    p.failures += 1;
    if (p.failures >= this.failures) {
      p.failures = 0;
      p.until = this.now() + backoffDelay(p.level, { initialMs: this.initialMs, maxMs: this.maxMs, jitter: 0 });
      p.level += 1;
    }
  }

  succeeded(peer: string): void {
    this.peers.delete(peer);
  }

  /** Forgets addresses that are not refused now; a flood of addresses cannot grow the map without bound. */
  private prune(): void {
    const now = this.now();
    for (const [k, p] of this.peers) if (p.until <= now) this.peers.delete(k);
    if (this.peers.size >= 10_000) this.peers.clear();
  }
}
