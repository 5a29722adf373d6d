// The one backoff of the gateway: exponential from a first delay to a ceiling, with jitter so parts that failed
// together (ports, producers, peers) do not retry in lockstep.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Fraction of the delay added or taken at random (0.2 = ±20 %); 0 = exact. */
  jitter?: number;
}

/** Delay before retry number `attempt` (0 = the first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  const jitter = opts.jitter ?? 0.2;
  if (jitter === 0) return base;
  return Math.round(base * (1 - jitter + Math.random() * 2 * jitter));
}

/** A retry sequence: `next()` gives the delay before the next attempt, `reset()` after a success. */
export class Backoff {
  #attempt = 0;
  readonly #opts: BackoffOptions;
  constructor(opts: BackoffOptions) {
    this.#opts = opts;
  }

  next(): number {
    return backoffDelay(this.#attempt++, this.#opts);
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
