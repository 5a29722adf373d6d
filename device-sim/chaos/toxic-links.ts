// The two links of `links: toxiproxy` in Toxiproxy (the devices proxy and the kafka proxy) and the phases of their
// toxics: each phase counts the records Kafka acknowledged while it was on (the gateway's forwarded counter); a
// `timeout` on the kafka link watches /healthz until the link is reported `stalled`.
import type { GatewayProcess } from '../../test/harness/gateway-process.ts';
import type { Stream, Toxic, Toxiproxy } from '../../test/harness/toxiproxy.ts';
import type { PhaseRecord, StallRecord, ToxicLog } from './link-figures.ts';
import { type LinkName, type ToxicSpec, toxicAttributes, toxicLabel } from './toxic-keys.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** /healthz's kafka.link (up, down, stalled, …), or undefined while it does not answer. */
async function kafkaLink(healthUrl: string): Promise<string | undefined> {
  try {
    const r = await fetch(healthUrl, { signal: AbortSignal.timeout(800) });
    return ((await r.json()) as { kafka?: { link?: string } }).kafka?.link;
  } catch {
    return undefined;
  }
}

export interface Open {
  rec: PhaseRecord;
  proxy: string;
  names: string[];
  counted: Promise<void>;
  stopWatch?: () => Promise<void>;
}

/** The two links in Toxiproxy and the phases of their toxics. */
export class ToxicLinks {
  readonly log: ToxicLog = { phases: [], stalls: [] };
  private readonly open = new Set<Open>();
  private n = 0;
  private readonly toxi: Toxiproxy;
  private readonly gw: GatewayProcess;
  private readonly healthUrl: string;
  /** Whether the gateway reaches Kafka through Toxiproxy (kafka: local). */
  readonly kafkaLinked: boolean;

  constructor(toxi: Toxiproxy, gw: GatewayProcess, healthUrl: string, kafkaLinked: boolean) {
    this.toxi = toxi;
    this.gw = gw;
    this.healthUrl = healthUrl;
    this.kafkaLinked = kafkaLinked;
  }

  private async forwarded(): Promise<number | null> {
    return this.gw.metric('gateway_forwarded_records_total').catch(() => null);
  }

  /** Puts a toxic on one link (both directions: one toxic each); the phase lasts until `end` or a clear. */
  async add(s: ToxicSpec, mark: (label: string) => void, label = toxicLabel(s)): Promise<Open> {
    if (s.link === 'kafka' && !this.kafkaLinked)
      throw new Error('the kafka link is in Toxiproxy only with kafka: local');
    const proxy = s.link;
    const streams: Stream[] = s.stream === 'both' ? ['upstream', 'downstream'] : [s.stream];
    const id = ++this.n;
    const names = streams.map((st) => `${s.type}-${id}-${st}`);
    const toxic = { type: s.type, attributes: toxicAttributes(s) } as Toxic;
    this.log.first ??= { at: Date.now(), forwarded: await this.forwarded() };
    mark(label);
    const rec: PhaseRecord = {
      label,
      link: s.link,
      type: s.type,
      from: Date.now(),
      to: null,
      forwardedFrom: null,
      forwardedTo: null,
      countedFrom: null,
    };
    this.log.phases.push(rec);
    for (const [i, name] of names.entries()) await this.toxi.addToxic(proxy, name, streams[i] ?? 'upstream', toxic);
    // Counted from a second in: what was already on its way when the toxic came lands first.
    const counted = sleep(1000).then(async () => {
      if (rec.to !== null) return;
      const n = await this.forwarded();
      if (rec.to === null && n !== null) {
        rec.forwardedFrom = n;
        rec.countedFrom = Date.now();
      }
    });
    const o: Open = { rec, proxy, names, counted };
    if (s.link === 'kafka' && s.type === 'timeout') o.stopWatch = this.watchStall(rec.from, mark);
    this.open.add(o);
    return o;
  }

  /** Polls /healthz every 200 ms until it says the kafka link is `stalled` (or the toxic is gone). */
  private watchStall(from: number, mark: (label: string) => void): () => Promise<void> {
    const stall: StallRecord = { from, stalledAt: null };
    this.log.stalls.push(stall);
    let on = true;
    const watching = (async () => {
      while (on) {
        if ((await kafkaLink(this.healthUrl)) === 'stalled') {
          stall.stalledAt = Date.now();
          mark(`kafka link reported stalled (${((stall.stalledAt - from) / 1000).toFixed(1)} s after the toxic)`);
          return;
        }
        await sleep(200);
      }
    })();
    return async () => {
      on = false;
      await watching;
    };
  }

  /** Ends a phase: the counter read while the toxic is still on, then the toxics removed. */
  async end(o: Open, mark: (label: string) => void, label?: string): Promise<void> {
    if (!this.open.delete(o)) return;
    await o.stopWatch?.();
    await o.counted;
    const n = await this.forwarded();
    o.rec.forwardedTo = n;
    o.rec.to = Date.now();
    for (const name of o.names) await this.toxi.removeToxic(o.proxy, name).catch(() => {});
    mark(label ?? `${o.rec.link} link: ${o.rec.type} removed`);
  }

  /** Removes every toxic of the link: its open phases end, and anything else on the proxy goes too. */
  async clear(link: LinkName, mark: (label: string) => void, label = `${link} link: toxics cleared`): Promise<void> {
    if (link === 'kafka' && !this.kafkaLinked) return;
    for (const o of [...this.open]) if (o.rec.link === link) await this.end(o, () => {});
    for (const name of await this.toxi.toxics(link)) await this.toxi.removeToxic(link, name).catch(() => {});
    mark(label);
  }

  /** Both links clean (the end of the scenario). */
  async clearAll(mark: (label: string) => void): Promise<void> {
    if (this.open.size === 0) return;
    for (const link of ['devices', 'kafka'] as const) {
      if ([...this.open].some((o) => o.rec.link === link))
        await this.clear(link, mark, `${link} link: toxics cleared (end of scenario)`);
    }
  }
}
