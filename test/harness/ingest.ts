// The real ingest path on a temporary real store, for tests and the processes tests start: `await openIngest()`
// gives the Ingest (the GatewayBus adapters and flows get in the gateway), its Store (LevelDB in a temp dir), and a
// local broker port that records what reaches MQTT subscribers. What a test reads back comes from the store itself:
// the outbox records and the flow journal. No vitest here: child processes (test/integration/flows-child.ts,
// test/browser/editor.ts) use it too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { type Logger, pino } from 'pino';
import type { IngressMessage } from '../../gateway/bus.ts';
import { ClassesSchema, DEFAULT_CLASS, type RouteConfig, RoutesSchema } from '../../gateway/config/schema.ts';
import { type BrokerPort, Ingest } from '../../gateway/ingest.ts';
import type { StoredRecord } from '../../gateway/store/codec.ts';
import type { JournaledMessage } from '../../gateway/store/journal.ts';
import type { Stamp } from '../../gateway/store/outbox.ts';
import { type ClassBudget, Store } from '../../gateway/store/store.ts';
import { compileFilter } from '../../gateway/topic.ts';

/** Stands in for aedes at the BrokerPort: records each delivered message and hands it to matching subscribers. */
export class LocalBroker implements BrokerPort {
  readonly started = true;
  readonly delivered: IngressMessage[] = [];
  readonly #subs = new Set<{ match: (topic: string) => boolean; handler: (msg: IngressMessage) => void }>();

  async deliver(msg: IngressMessage): Promise<void> {
    this.delivered.push(msg);
    for (const s of [...this.#subs]) if (s.match(msg.topic)) s.handler(msg);
  }

  async subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>> {
    const sub = { match: compileFilter(filter), handler };
    this.#subs.add(sub);
    return async () => {
      this.#subs.delete(sub);
    };
  }
}

export interface OpenIngestOptions {
  /** Routes as in the config (schema defaults applied); the gateway's default routes when absent. */
  routes?: unknown[];
  /** Storage classes; `default` is added when missing. */
  classes?: Record<string, Partial<ClassBudget>>;
  /** An existing data dir (a restart): kept on close. A fresh temp dir, removed on close, when absent. */
  dir?: string;
  /** kafka.maxRecordBytes (0 = no limit). */
  maxRecordBytes?: number;
  log?: Logger;
}

export interface JournalEntry {
  tapId: string;
  key: Buffer;
  msg: JournaledMessage;
}

export interface IngestHarness {
  ingest: Ingest;
  store: Store;
  broker: LocalBroker;
  dir: string;
  /**
   * A publish as a device makes it through the broker: ingested (resolves once durable, rejects when refused), then
   * delivered to subscribers. `at` fixes the ingest time the store stamps on it.
   */
  inject(msg: IngressMessage, opts?: { at?: number }): Promise<void>;
  /**
   * Journals `msg` for flow input `tapId` as a run that crashed while the message was inside the flow leaves it;
   * resolves with what the store stamped on it, once on disk.
   */
  seedJournal(tapId: string, msg: IngressMessage, opts?: { at?: number }): Promise<Stamp>;
  /** The outbox records waiting for Kafka, in sequence order per class, optionally of one Kafka topic. */
  records(kafkaTopic?: string): Promise<StoredRecord[]>;
  /** The flow journal: messages handed to flow inputs and not yet completed. */
  journal(): Promise<JournalEntry[]>;
  close(): Promise<void>;
}

export async function openIngest(o: OpenIngestOptions = {}): Promise<IngestHarness> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'gw-ingest-'));
  const log = o.log ?? pino({ level: 'silent' });
  const classes = Value.Default(ClassesSchema, structuredClone(o.classes ?? {})) as Record<string, ClassBudget>;
  classes.default ??= { ...DEFAULT_CLASS };
  const routes = Value.Default(RoutesSchema, o.routes === undefined ? undefined : structuredClone(o.routes));
  const store = new Store({
    dir: join(dir, 'store'),
    durability: 'os',
    groupCommit: { maxRecords: 256, windowMs: 0 },
    compactAfterDeletes: 10_000,
    classes,
    maxRecordBytes: o.maxRecordBytes ?? 0,
    log,
  });
  await store.start();
  const broker = new LocalBroker();
  const ingest = new Ingest({
    store,
    routes: routes as RouteConfig[],
    log,
    counters: { received() {}, routed() {}, refused() {}, unrouted() {} },
    broker,
  });
  return {
    ingest,
    store,
    broker,
    dir,
    inject: (msg, opts = {}) => inject(ingest, broker, msg, opts.at),
    seedJournal: (tapId, msg, opts = {}) => seedJournal(store, tapId, msg, opts.at),
    records: (kafkaTopic) => records(store, kafkaTopic),
    journal: () => journal(store, ingest),
    async close() {
      await store.stop();
      if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function inject(ingest: Ingest, broker: LocalBroker, msg: IngressMessage, at: number | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const now = Date.now;
    // The store stamps the ingest time synchronously in accept().
    if (at !== undefined) Date.now = () => at;
    try {
      ingest.accept(msg, (err) => (err ? reject(err) : broker.deliver(msg).then(resolve, reject)));
    } finally {
      Date.now = now;
    }
  });
}

function seedJournal(store: Store, tapId: string, msg: IngressMessage, at: number | undefined): Promise<Stamp> {
  return new Promise((resolve, reject) => {
    const now = Date.now;
    if (at !== undefined) Date.now = () => at;
    try {
      const stamp = store.outbox.append(msg, [], { taps: [store.journal.tap(tapId)] }, (err) =>
        err ? reject(err) : resolve(stamp),
      );
    } finally {
      Date.now = now;
    }
  });
}

async function records(store: Store, kafkaTopic: string | undefined): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for (const cls of store.outbox.classes.values()) {
    const all = await store.outbox.read(cls, 0, { maxRecords: 1_000_000, maxBytes: 2 ** 40 });
    out.push(...all.filter((r) => kafkaTopic === undefined || r.kafkaTopic === kafkaTopic));
  }
  return out;
}

/** The journal of every flow input registered now, as on disk (a completion is a delete of the next commit). */
async function journal(store: Store, ingest: Ingest): Promise<JournalEntry[]> {
  const out: JournalEntry[] = [];
  for (const { id } of ingest.flowInputs()) {
    for await (const { key, msg } of store.journal.replay(store.journal.tap(id))) out.push({ tapId: id, key, msg });
  }
  return out;
}
