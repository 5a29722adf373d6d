// What both KafkaSource implementations share: the state health reports, the halt once the handler rejected or
// stop() began, and handing one record over at a time with its offset committed only after the handler resolved.
import { EventEmitter } from 'node:events';
import { GroupBusyError, type OffsetAdmin, resumeUncommitted } from './resume.ts';
import type {
  KafkaSource,
  KafkaSourceOptions,
  RecordHandler,
  SourceEvents,
  SourcePositions,
  SourceRecord,
} from './types.ts';

type State = ReturnType<KafkaSource['health']>['state'];

export abstract class SourceBase extends EventEmitter<SourceEvents> {
  protected state: State = 'stopped';
  /** Set once the handler rejected or stop() began: no record is handed over after that. */
  protected halted = false;
  private committed = 0;
  private inflight: Promise<void> = Promise.resolve();

  /** The consumer is in its group (again). */
  protected joined(): void {
    if (this.halted) return;
    this.state = 'up';
    this.emit('up');
  }

  /** The consumer lost its broker for now; the client retries by itself. */
  protected lost(err: Error): void {
    if (this.halted) return;
    this.state = 'down';
    this.emit('down', err);
  }

  /** The source consumes no more. */
  protected crash(err: Error): void {
    if (this.halted) return;
    this.halted = true;
    this.state = 'crashed';
    this.emit('crash', err);
  }

  /**
   * Hands `record` over, then commits its offset with `commit`. A handler that rejects halts the source (no commit:
   * the record stays for the next consumer of the group); a commit that fails rejects the returned promise.
   */
  protected handle(
    record: SourceRecord,
    onRecord: RecordHandler,
    commit: () => unknown,
    positions?: SourcePositions,
  ): Promise<void> {
    this.inflight = (async () => {
      if (this.halted) return;
      try {
        await onRecord(record);
      } catch (err) {
        this.crash(err as Error);
        return;
      }
      await commit();
      this.committed++;
      await positions?.save(record);
    })();
    return this.inflight;
  }

  /** No record is handed over from now on; resolves once the one being handled (and its commit) is done. */
  protected async halt(): Promise<void> {
    this.halted = true;
    await this.inflight.catch(() => {});
  }

  /**
   * Before joining: partitions without a committed offset start after the last record handled (`o.positions`) or at
   * the records sent since `o.since` (resume.ts).
   * Kafka's errors reject (start() fails and is retried: joining without this would skip those records); a group
   * that keeps other members is logged and the consumer starts those partitions at `startAt`, as without `since`.
   */
  protected async resume(o: KafkaSourceOptions, admin: () => OffsetAdmin): Promise<void> {
    if (!o.since || Object.keys(o.since).length === 0) return;
    const positions = new Map<string, Map<number, bigint>>();
    for (const topic of Object.keys(o.since)) {
      const kept = await o.positions?.load(topic);
      if (kept && kept.size > 0) positions.set(topic, kept);
    }
    const a = admin();
    try {
      await resumeUncommitted(a, {
        groupId: o.groupId,
        clientId: o.clientId,
        since: o.since,
        positions,
        emptyWithinMs: o.sessionTimeoutMs + o.rebalanceTimeoutMs,
        log: o.log,
      });
    } catch (err) {
      if (!(err instanceof GroupBusyError)) throw err;
      o.log.warn({ err }, 'downlink: could not set the start of partitions without a committed offset');
    } finally {
      await a.close().catch(() => {});
    }
  }

  health(): ReturnType<KafkaSource['health']> {
    return { state: this.state, committed: this.committed };
  }
}
