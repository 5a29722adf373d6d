// Weak links, with a real proxy: the real gateway sends to its own Kafka through Toxiproxy, and QoS 1 devices publish
// to the gateway through Toxiproxy. Toxics in turn — latency with jitter and a 64 kbit/s cap on the uplink, resets on
// the uplink, the device link sliced into tiny segments, then a silent blackhole on the uplink — while devices keep
// publishing a sequence each. The promise checked: the drain keeps moving on a slow link, a blackhole is reported
// `stalled` within 30 s, and once the link heals every acknowledged message is in Kafka, in order per device.
// WEAK_LINKS_LONG=1: longer phases and more devices.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import type { LocalKafka } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { startRelayedKafka } from '../harness/relayed-kafka.ts';
import { type Stream, type Toxic, Toxiproxy } from '../harness/toxiproxy.ts';
import { Trickle } from '../harness/trickle.ts';
import { waitFor } from '../harness/wait.ts';

const LONG = process.env.WEAK_LINKS_LONG === '1';
/** How long each toxic stays (the load goes on meanwhile). */
const PHASE_MS = LONG ? 60_000 : 6_000;
const DEVICES = Array.from({ length: LONG ? 12 : 3 }, (_, i) => `wl-${i}`);
/** Per device: one publish, then this pause after its PUBACK. */
const EVERY_MS = LONG ? 600 : 200;
/** The gateway's bound on Kafka's silence: small, so the blackhole phase is short; the promise is 30 s. */
const STALL_TIMEOUT_MS = 10_000;
const STALL_WITHIN_MS = 30_000;
/** 64 kbit/s is 8 KB/s: a produce request must cross it well within the stall bound (see the backlog phase). */
const BATCH_MAX_BYTES = 16_384;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Health = { status: string; kafka: { link: string; stalls: number } };

interface Figure {
  phase: string;
  seconds: number;
  acked: number;
  forwarded: number;
  maxBacklog: number;
  links: string;
  note?: string;
}

/** Samples health and metrics every 250 ms while a phase runs: which link states were seen, the largest backlog. */
class Sampler {
  private readonly links = new Set<string>();
  private maxBacklog = 0;
  private on = true;
  private readonly done: Promise<void>;

  private readonly g: GatewayProcess;

  constructor(g: GatewayProcess) {
    this.g = g;
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (this.on) {
      const h = (await this.g.health().catch(() => undefined)) as Health | undefined;
      if (h) this.links.add(h.kafka.link);
      this.maxBacklog = Math.max(this.maxBacklog, await this.g.metric('gateway_backlog_records').catch(() => 0));
      await sleep(250);
    }
  }

  async stop(): Promise<{ links: string; maxBacklog: number }> {
    this.on = false;
    await this.done;
    return { links: [...this.links].join(','), maxBacklog: this.maxBacklog };
  }
}

let kafka: LocalKafka | undefined;
let toxi: Toxiproxy | undefined;
let kafkaProxyPort = 0;
let relayedPort = 0;
// The gateway reaches Kafka only through Toxiproxy (test/harness/relayed-kafka.ts); kcat reads directly.
beforeAll(async () => {
  ({ kafka, relayedPort, proxyPort: kafkaProxyPort } = await startRelayedKafka());
  toxi = await Toxiproxy.start();
}, 180_000);
afterAll(async () => {
  await toxi?.close();
  await kafka?.close();
});

describe('weak links (Toxiproxy on the uplink and on the device link)', () => {
  let gw: GatewayProcess | undefined;
  let devices: Trickle | undefined;
  afterAll(async () => {
    await devices?.stop().catch(() => {});
    await gw?.close();
  });

  it('keeps draining on a slow link, reports a blackhole as stalled, and loses no acknowledged message', async () => {
    const t = toxi as Toxiproxy;
    const topic = `e2e.weak.${randomBytes(4).toString('hex')}`;
    await t.proxy('kafka', relayedPort, kafkaProxyPort);
    const g = await GatewayProcess.create({
      env: {
        GATEWAY_KAFKA_BROKERS: `127.0.0.1:${kafkaProxyPort}`,
        GATEWAY_KAFKA_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
        GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
        GATEWAY_KAFKA_BATCH_MAX_BYTES: String(BATCH_MAX_BYTES),
        GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
      },
    });
    gw = g;
    await g.start();
    const devicePort = await t.proxy('mqtt', g.mqttPort);
    const health = async (): Promise<Health> => (await g.health()) as Health;
    const forwarded = () => g.metric('gateway_forwarded_records_total');
    // QoS 1 devices, each publishing `{"device","seq"}` with seq 0, 1, 2...; a seq is resent until it is PUBACK'd.
    const d = new Trickle(DEVICES, { payload: (device, seq) => JSON.stringify({ device, seq }), reconnectPeriod: 500 });
    devices = d;
    await d.start(`mqtt://127.0.0.1:${devicePort}`, EVERY_MS);
    await waitFor('records flowing to Kafka', async () => (await forwarded()) >= 30, 60_000, 200);
    expect((await health()).kafka.link).toBe('up');

    const figures: Figure[] = [];
    /** Runs one phase: toxics on, the load for `ms`, `during` checked while they are on; then off. */
    const phase = async (
      name: string,
      proxy: 'kafka' | 'mqtt',
      toxics: [string, Stream, Toxic][],
      ms: number,
      during: (since: { acked: number; forwarded: number }) => Promise<string | undefined>,
    ): Promise<void> => {
      const start = Date.now();
      const since = { acked: d.total, forwarded: await forwarded() };
      const s = new Sampler(g);
      for (const [n, stream, toxic] of toxics) await t.addToxic(proxy, n, stream, toxic);
      await sleep(ms);
      const note = await during(since);
      for (const [n] of toxics) await t.removeToxic(proxy, n);
      const { links, maxBacklog } = await s.stop();
      figures.push({
        phase: name,
        seconds: Math.round((Date.now() - start) / 100) / 10,
        acked: d.total - since.acked,
        forwarded: (await forwarded()) - since.forwarded,
        maxBacklog,
        links,
        note,
      });
      const left = await t.toxics(proxy);
      expect(toxics.filter(([n]) => left.includes(n))).toEqual([]);
    };
    /** The drain moved while the toxic was on: more records acknowledged by Kafka than when it started. */
    const drainMoves = (what: string) => async (since: { forwarded: number }) => {
      await waitFor(`the drain moving under ${what}`, async () => (await forwarded()) > since.forwarded + 10, 60_000);
      return undefined;
    };

    await phase(
      'latency 500±100 ms each way (uplink)',
      'kafka',
      [
        ['lat-up', 'upstream', { type: 'latency', attributes: { latency: 500, jitter: 100 } }],
        ['lat-down', 'downstream', { type: 'latency', attributes: { latency: 500, jitter: 100 } }],
      ],
      PHASE_MS,
      drainMoves('latency'),
    );
    // 64 kbit/s = 8 KB/s, toward Kafka (the direction the records take).
    await phase(
      'bandwidth 64 kbit/s (uplink)',
      'kafka',
      [['bw', 'upstream', { type: 'bandwidth', attributes: { rate: 8 } }]],
      PHASE_MS,
      drainMoves('a 64 kbit/s cap'),
    );
    await phase(
      'reset_peer (uplink)',
      'kafka',
      [['reset', 'upstream', { type: 'reset_peer', attributes: { timeout: 0 } }]],
      PHASE_MS / 2,
      async () => undefined,
    );
    await waitFor('link up after the resets', async () => (await health()).kafka.link === 'up', 120_000, 200);
    await phase(
      'slicer 8±4 B (device link)',
      'mqtt',
      [
        ['slice-up', 'upstream', { type: 'slicer', attributes: { average_size: 8, size_variation: 4, delay: 200 } }],
        [
          'slice-down',
          'downstream',
          { type: 'slicer', attributes: { average_size: 8, size_variation: 4, delay: 200 } },
        ],
      ],
      PHASE_MS,
      async (since) => {
        await waitFor('devices acknowledged through the sliced link', () => d.total > since.acked + 10, 60_000);
        return undefined;
      },
    );
    // A silent blackhole: `timeout` 0 takes every byte and never answers nor closes, both ways. It lasts a phase
    // (the backlog grows), then the link heals to 64 kbit/s only, which must drain that backlog.
    await phase(
      'timeout 0 = blackhole (uplink)',
      'kafka',
      [
        ['hole-up', 'upstream', { type: 'timeout', attributes: { timeout: 0 } }],
        ['hole-down', 'downstream', { type: 'timeout', attributes: { timeout: 0 } }],
      ],
      0,
      async () => {
        const at = Date.now();
        const stalledBy = at + PHASE_MS;
        await waitFor(
          'link reported stalled',
          async () => (await health()).kafka.link === 'stalled',
          STALL_WITHIN_MS,
          200,
        );
        const seen = `stalled after ${((Date.now() - at) / 1000).toFixed(1)} s`;
        expect((await health()).status).toBe('degraded');
        // Devices are still acknowledged: their records wait on disk.
        const acked = d.total;
        await waitFor('publishing through the stall', () => d.total > acked + 10, 60_000);
        await sleep(Math.max(0, stalledBy - Date.now()));
        await t.addToxic('kafka', 'bw-drain', 'upstream', { type: 'bandwidth', attributes: { rate: 8 } });
        return seen;
      },
    );
    const healAt = Date.now();
    let upAfter = 0;
    await phase('bandwidth 64 kbit/s draining the backlog (uplink)', 'kafka', [], 0, async () => {
      await waitFor('link up again', async () => (await health()).kafka.link === 'up', 120_000, 200);
      upAfter = (Date.now() - healAt) / 1000;
      await waitFor(
        'backlog drained at 64 kbit/s',
        async () => (await g.metric('gateway_backlog_records')) < 10,
        300_000,
        200,
      );
      return `link up ${upAfter.toFixed(1)} s after the blackhole was removed`;
    });
    await t.removeToxic('kafka', 'bw-drain');

    await d.stop();
    await waitFor('backlog drained', async () => (await g.metric('gateway_backlog_records')) === 0, 180_000, 200);

    const got = kcatRead((kafka as LocalKafka).brokers, topic);
    let duplicates = 0;
    for (const dev of DEVICES) {
      const seqs = got.filter((r) => r.key === dev).map((r) => (JSON.parse(r.payload ?? '{}') as { seq: number }).seq);
      // At least once: a batch whose answer was lost comes twice; the first copies are in publish order.
      const firsts = [...new Set(seqs)];
      duplicates += seqs.length - firsts.length;
      const n = d.acked.get(dev) ?? 0;
      expect(n).toBeGreaterThan(20);
      expect(firsts).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    console.log(
      [
        `weak links (${LONG ? 'long' : 'short'}): ${DEVICES.length} devices, one QoS 1 publish each per ~${EVERY_MS} ms`,
        ...figures.map(
          (f) =>
            `  ${f.phase}: ${f.seconds} s, ${f.acked} acknowledged, ${f.forwarded} forwarded, backlog max ${f.maxBacklog}, link ${f.links}${f.note ? `, ${f.note}` : ''}`,
        ),
        `  end: ${d.total} acknowledged, ${got.length} records in Kafka, ${duplicates} duplicates, 0 lost, ${d.failedPublishes} publishes retried by devices`,
      ].join('\n'),
    );
  }, 1_800_000);
});
