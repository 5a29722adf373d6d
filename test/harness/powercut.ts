// Power cuts under load: the real gateway keeps its store on device-sim/chaos/powercut-fs.py, a FUSE file system that
// keeps every write not yet fsync'd in memory only. QoS 1 publishers write a ledger of what was PUBACK'd while the
// gateway forwards to a real Kafka; a cut SIGKILLs the gateway and then the file system (its unsynced writes vanish,
// the backing dir holds exactly what was synced), remounts it and starts the gateway again on what is left. After the
// last cut the gateway drains its backlog and kcat reads the topic: every acknowledged message must be there.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { PowercutFs } from '../../device-sim/chaos/powercut.ts';
import { GatewayProcess, pollUntil } from './gateway-process.ts';
import { kcatRead } from './kcat.ts';

export { PowercutFs };

/** QoS 1 publishers, each with up to `window` publishes in flight; `acked` holds every payload that was PUBACK'd. */
class Publishers {
  readonly acked = new Set<string>();
  private readonly clients: MqttClient[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly devices: string[];
  private readonly window: number;

  constructor(devices: string[], window: number) {
    this.devices = devices;
    this.window = window;
  }

  async start(url: string, cycle: number): Promise<void> {
    for (const d of this.devices) {
      const c = await mqtt.connectAsync(url, { clientId: d, clean: true, reconnectPeriod: 0 });
      c.on('error', () => {});
      this.clients.push(c);
      this.loops.push(this.loop(c, d, cycle));
    }
  }

  private async loop(c: MqttClient, d: string, cycle: number): Promise<void> {
    let inflight = 0;
    let wake: (() => void) | undefined;
    for (let n = 0; this.running && c.connected; n++) {
      const payload = `${d}:${cycle}:${n}`;
      inflight += 1;
      c.publish(`devices/${d}/telemetry`, payload, { qos: 1 }, (err) => {
        inflight -= 1;
        if (!err && this.running) this.acked.add(payload);
        wake?.();
      });
      while (inflight >= this.window && this.running && c.connected) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    }
  }

  /** Stops counting acknowledgements at once (the power is cut now), then drops the connections. */
  async stop(): Promise<void> {
    this.running = false;
    for (const c of this.clients) c.end(true);
    await Promise.all(this.loops);
  }
}

export interface PowercutOptions {
  durability: 'fsync' | 'os';
  cuts: number;
  brokers: readonly string[];
  topic: string;
  /** true: the gateway forwards to Kafka during the cuts. false: Kafka is unreachable until the last start, so every
   * acknowledged message is on the disk alone when the power goes. */
  forwardDuringCuts: boolean;
  devices?: number;
  /** Publishes in flight per device. */
  window?: number;
  /** Each cycle publishes until this many messages were acknowledged in it, then for a random extra 0-500 ms. */
  ackedPerCycle?: number;
  log?: (line: string) => void;
}

export interface CycleResult {
  cycle: number;
  acked: number;
  /** Records in the store not yet acknowledged by Kafka, sampled just before the cut: what only the disk held. */
  backlogAtCut: number;
  lost: number;
}

export interface PowercutResult {
  durability: 'fsync' | 'os';
  forwardDuringCuts: boolean;
  cuts: number;
  acked: number;
  lost: number;
  /** Acknowledged payloads not found in Kafka (the first 20). */
  lostSample: string[];
  perCycle: CycleResult[];
  /** Sum of the per-cycle backlogs at the cut. */
  backlogAtCuts: number;
  gatewayStarts: number;
}

/** The topic's records; none when it does not exist (nothing ever reached Kafka, so nothing created it). */
function readTopic(brokers: readonly string[], topic: string): ReturnType<typeof kcatRead> {
  try {
    return kcatRead(brokers, topic);
  } catch (err) {
    if (String(err).includes('Unknown topic or partition')) return [];
    throw err;
  }
}

export async function runPowercut(o: PowercutOptions): Promise<PowercutResult> {
  const log = o.log ?? (() => {});
  const work = mkdtempSync(join(tmpdir(), 'powercut-'));
  const backing = join(work, 'backing');
  const mnt = join(work, 'mnt');
  mkdirSync(backing);
  mkdirSync(mnt);
  const fs = new PowercutFs(backing, mnt);
  const brokers = o.brokers.join(',');
  // GatewayProcess reads this object at each start: the last start gets the real brokers.
  const env: Record<string, string> = {
    GATEWAY_DATA_DIR: join(mnt, 'data'),
    GATEWAY_STORE_DURABILITY: o.durability,
    GATEWAY_KAFKA_BROKERS: o.forwardDuringCuts ? brokers : '127.0.0.1:1',
    GATEWAY_KAFKA_RETRY_MAX_MS: '1000',
    GATEWAY_FLOWS_ENABLED: 'false',
    GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic: o.topic }]),
  };
  const gw = await GatewayProcess.create({ dataDir: work, env });
  const devices = Array.from({ length: o.devices ?? 4 }, (_, i) => `pc-${o.durability}-${i}`);
  const ackedByCycle: Set<string>[] = [];
  const backlogs: number[] = [];
  try {
    await fs.mount();
    for (let cycle = 0; cycle < o.cuts; cycle++) {
      await gw.start();
      const pubs = new Publishers(devices, o.window ?? 32);
      await pubs.start(gw.url, cycle);
      const want = o.ackedPerCycle ?? 500;
      await pollUntil(`${want} acknowledged in cycle ${cycle}`, () => pubs.acked.size >= want, 60_000, 20);
      await new Promise((r) => setTimeout(r, Math.random() * 500)); // where in the load the cut lands
      backlogs.push(await gw.metric('gateway_backlog_records'));
      // The cut: acknowledgements stop counting, the gateway dies, then the unsynced writes vanish. Nothing runs on
      // the file system between the two, so this is the disk as it was when the gateway died.
      const stopping = pubs.stop();
      await gw.kill('SIGKILL');
      await stopping;
      await fs.cut();
      ackedByCycle.push(pubs.acked);
      log(`cut ${cycle + 1}/${o.cuts} (${o.durability}): ${pubs.acked.size} acknowledged in this cycle`);
      await fs.mount();
    }
    env.GATEWAY_KAFKA_BROKERS = brokers;
    await gw.start();
    await pollUntil('the backlog drained', async () => (await gw.metric('gateway_backlog_records')) === 0, 120_000);
    const found = new Set(readTopic(o.brokers, o.topic).map((r) => r.payload));
    const perCycle = ackedByCycle.map((acked, cycle) => ({
      cycle,
      acked: acked.size,
      backlogAtCut: backlogs[cycle] ?? 0,
      lost: [...acked].filter((p) => !found.has(p)).length,
    }));
    const lostAll = ackedByCycle.flatMap((acked) => [...acked].filter((p) => !found.has(p)));
    return {
      durability: o.durability,
      forwardDuringCuts: o.forwardDuringCuts,
      cuts: o.cuts,
      acked: perCycle.reduce((a, c) => a + c.acked, 0),
      lost: lostAll.length,
      lostSample: lostAll.slice(0, 20),
      perCycle,
      backlogAtCuts: backlogs.reduce((a, b) => a + b, 0),
      gatewayStarts: gw.starts,
    };
  } finally {
    await gw.kill('SIGKILL');
    await fs.cut();
    rmSync(work, { recursive: true, force: true });
  }
}
