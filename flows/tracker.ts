// Knows when a flow has finished with a message that entered it through a `gateway in` node, so the gateway can
// drop the message from the flow journal (at-least-once through flows). A message and every copy or derivative a node sends
// on share Node-RED's `_msgid`; the tracker counts, per `_msgid`, the deliveries to nodes that have not yet called
// done(). Node-RED's messaging hooks feed it: `preDeliver` (a node is about to receive it: +1) and `onComplete`
// (a node called done(): -1). When the count reaches zero — the last node completed, or a node filtered the
// message out and completed without sending — the flow is finished and the tap's `complete()` runs.
//
// A message that some node never completes (a node that drops messages without done(), a redeploy that closes a
// node holding it) is released after `timeoutMs` and counted as `timeout`, so one bad node cannot pin the journal.
// A node that completes with an error (done(err)) releases the message too, counted as `error`: Node-RED reports the
// error (catch nodes, log) and the journal does not replay a message that fails the same way on every start.

export type FlowResult = 'completed' | 'error' | 'timeout';

export interface TrackerOptions {
  timeoutMs: number;
  /** Called once per tracked message when it leaves the tracker. */
  onResult(result: FlowResult, elapsedMs: number): void;
  now?: () => number;
}

interface Lineage {
  complete: () => void;
  /** Node id → deliveries to it that it has not completed. */
  held: Map<string, number>;
  outstanding: number;
  started: number;
  error: boolean;
  /** Still inside the source node's send(): zero outstanding does not mean finished yet. */
  sending: boolean;
}

export class CompletionTracker {
  readonly #lineages = new Map<string, Lineage>();
  readonly #opts: TrackerOptions;
  readonly #now: () => number;
  #sweep: NodeJS.Timeout | undefined;

  constructor(opts: TrackerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  get inFlight(): number {
    return this.#lineages.size;
  }

  start(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.#opts.timeoutMs / 4)));
    this.#sweep = setInterval(() => this.sweep(), every);
    this.#sweep.unref();
  }

  /** Stops the timeout sweep. Messages still inside flows are not completed: they stay journaled and replay. */
  stop(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#lineages.clear();
  }

  /**
   * Runs `send` (the source node's node.send) with the message tracked under `msgid`; if no node received it
   * (no wires), the flow is finished at once.
   */
  track(msgid: string, complete: () => void, send: () => void): void {
    const lineage: Lineage = {
      complete,
      held: new Map(),
      outstanding: 0,
      started: this.#now(),
      error: false,
      sending: true,
    };
    this.#lineages.set(msgid, lineage);
    try {
      send();
    } finally {
      lineage.sending = false;
      if (lineage.outstanding === 0) this.#finish(msgid, lineage, lineage.error ? 'error' : 'completed');
    }
  }

  /** `preDeliver` hook: `nodeId` is about to receive the message. */
  delivered(msgid: string | undefined, nodeId: string): void {
    const lineage = msgid === undefined ? undefined : this.#lineages.get(msgid);
    if (!lineage) return;
    lineage.held.set(nodeId, (lineage.held.get(nodeId) ?? 0) + 1);
    lineage.outstanding++;
  }

  /** `onComplete` hook: `nodeId` called done() for the message. Completions of untracked deliveries are ignored. */
  completed(msgid: string | undefined, nodeId: string, error?: unknown): void {
    const lineage = msgid === undefined ? undefined : this.#lineages.get(msgid);
    if (!lineage) return;
    const held = lineage.held.get(nodeId);
    if (!held) return; // e.g. a catch or complete node handed the message directly, not through a wire
    if (held === 1) lineage.held.delete(nodeId);
    else lineage.held.set(nodeId, held - 1);
    if (error !== undefined && error !== null) lineage.error = true;
    lineage.outstanding--;
    if (lineage.outstanding === 0 && !lineage.sending) {
      this.#finish(msgid!, lineage, lineage.error ? 'error' : 'completed');
    }
  }

  /** Releases messages older than the timeout. Map order is insertion order, so the oldest come first. */
  sweep(): void {
    const deadline = this.#now() - this.#opts.timeoutMs;
    for (const [msgid, lineage] of this.#lineages) {
      if (lineage.started > deadline) break;
      this.#finish(msgid, lineage, 'timeout');
    }
  }

  #finish(msgid: string, lineage: Lineage, result: FlowResult): void {
    this.#lineages.delete(msgid);
    this.#opts.onResult(result, this.#now() - lineage.started);
    lineage.complete();
  }
}
