// The shape every component of the gateway has: the composition root starts an ordered list of parts and stops it
// in reverse; health() is read by /healthz and the status page. Parts register their own metrics when built.

export interface Part {
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  /** The part's state for /healthz: at least `state` (e.g. up, down, degraded, disabled). */
  health(): PartHealth;
}

export interface PartHealth {
  state: string;
  [key: string]: unknown;
}
