// The bound on Kafka's answers: a connect, a send or a canary that Kafka has not answered within kafka.stallTimeoutMs
// is a stall — the link may look up (no RST, no error: a silent blackhole, a broker that takes connections but never
// answers a produce), yet nothing moves. The operation is abandoned (its late result is ignored; the records it
// carried stay on disk and are sent again), so the caller can recycle the producer instead of waiting on the client
// library's own timeouts and retries.
import { GatewayError } from '../gateway/errors.ts';

export type KafkaOp = 'connect' | 'send' | 'canary';

/** No answer from Kafka within the bound: transient (GW_ERR_KAFKA), retried on a fresh producer. */
export class StallError extends GatewayError {
  override name = 'StallError';
  readonly op: KafkaOp;
  readonly ms: number;
  constructor(op: KafkaOp, ms: number, cause?: unknown) {
    super('GW_ERR_KAFKA', `no answer from Kafka to a ${op} for ${Math.round(ms / 1000)} s`, { cause });
    this.op = op;
    this.ms = ms;
  }
}

/**
 * Resolves or rejects as `op` does, unless `boundMs` passes first: then rejects with a StallError. A failure that
 * arrives only after the bound (a client's own request timeout) is a stall as well: Kafka did not answer in time.
 */
export async function withinBound<T>(op: Promise<T>, boundMs: number, what: KafkaOp, cut?: AbortSignal): Promise<T> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let onCut: (() => void) | undefined;
  // The abandoned operation may still settle later: its result is not used, its failure not reported.
  op.catch(() => {});
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StallError(what, boundMs)), boundMs);
    // `cut` (a stopping forwarder) abandons the operation at once, not as a stall.
    onCut = () => reject(new Error(`Kafka ${what} abandoned: stopping`));
    if (cut?.aborted) onCut();
    else cut?.addEventListener('abort', onCut, { once: true });
  });
  try {
    return await Promise.race([op, deadline]);
  } catch (err) {
    if (err instanceof StallError || cut?.aborted) throw err;
    if (Date.now() - t0 >= boundMs) throw new StallError(what, boundMs, err);
    throw err;
  } finally {
    clearTimeout(timer);
    if (onCut) cut?.removeEventListener('abort', onCut);
  }
}

/** Waits for `p` at most `ms`, never rejecting: closing a producer on a dead link must not hold up its successor. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
