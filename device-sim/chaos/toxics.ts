// `links: toxiproxy`: Toxiproxy (test/harness/toxiproxy.ts) between the devices and the gateway and between the
// gateway and its local Kafka, whose second listener advertises the proxy (test/harness/relayed-kafka.ts), so every
// connection of the gateway's Kafka client goes through it. The `toxic` and `toxic-clear` steps, and the device-link
// `blackhole`, `latency` and `restore` done with toxics (the phases and their figures: toxic-links.ts).
import { GatewayProcess } from '../../test/harness/gateway-process.ts';
import type { LocalKafka } from '../../test/harness/kafka.ts';
import type { RelayedKafka } from '../../test/harness/relayed-kafka.ts';
import { Toxiproxy } from '../../test/harness/toxiproxy.ts';
import type { ChaosRig } from './rig.ts';
import type { Scenario, Step } from './scenario.ts';
import type { ToxicSpec } from './toxic-keys.ts';
import { ToxicLinks } from './toxic-links.ts';

type Mark = (label: string) => void;
type Undo = () => Promise<void>;
type Apply = (s: Step, rig: ChaosRig, mark: Mark) => Promise<Undo | undefined>;

function toxiOf(rig: ChaosRig): ToxicLinks {
  if (!rig.toxi) throw new Error('this step needs links: toxiproxy');
  return rig.toxi;
}

const specOf = (s: Step): ToxicSpec => ({
  ...s,
  link: s.link ?? 'devices',
  type: s.type ?? 'latency',
  stream: s.stream ?? 'both',
});

/**
 * The toxic steps, and the device-link steps of the relay done with toxics when the scenario has links: toxiproxy
 * (the relay's own otherwise): a blackhole is a `timeout` 0 both ways, which takes every byte and answers nothing.
 */
export function toxicSteps(relay: Record<'blackhole' | 'latency' | 'restore', Apply>) {
  return {
    toxic: async (s, rig, mark) => {
      const t = toxiOf(rig);
      const o = await t.add(specOf(s), mark);
      return () => t.end(o, mark);
    },
    'toxic-clear': async (s, rig, mark) => {
      await toxiOf(rig).clear(s.link ?? 'devices', mark);
      return undefined;
    },
    blackhole: async (s, rig, mark) => {
      const t = rig.toxi;
      if (!t) return relay.blackhole(s, rig, mark);
      const o = await t.add({ link: 'devices', type: 'timeout', stream: 'both', ms: 0 }, mark, 'blackhole');
      return () => t.end(o, mark, 'link restored');
    },
    latency: async (s, rig, mark) => {
      const t = rig.toxi;
      if (!t) return relay.latency(s, rig, mark);
      const spec: ToxicSpec = { link: 'devices', type: 'latency', stream: 'both', ms: s.ms ?? 0 };
      const o = await t.add(spec, mark, `latency +${s.ms} ms`);
      return () => t.end(o, mark, 'link restored');
    },
    restore: async (s, rig, mark) => {
      if (!rig.toxi) return relay.restore(s, rig, mark);
      await rig.toxi.clear('devices', mark, 'link restored');
      return undefined;
    },
  } satisfies Record<string, Apply>;
}

/**
 * The rig with Toxiproxy: the gateway on loopback given the Kafka proxy as its broker (with kafka: local; other
 * brokers are used directly), and the devices connecting to the devices proxy.
 */
export async function toxiRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  relayed: RelayedKafka | undefined,
  disk: { dir: string } | undefined,
): Promise<ChaosRig> {
  const toxi = await Toxiproxy.start();
  let gw: GatewayProcess | undefined;
  const cleanup = async (): Promise<void> => {
    await gw?.close();
    await toxi.close();
  };
  try {
    if (relayed) await toxi.proxy('kafka', relayed.relayedPort, relayed.proxyPort);
    gw = await GatewayProcess.create({
      supervise: true,
      env: {
        GATEWAY_KAFKA_BROKERS: relayed ? `127.0.0.1:${relayed.proxyPort}` : brokers.join(','),
        ...sc.gateway.env,
      },
      ...(sc.gateway.config !== undefined ? { configYaml: sc.gateway.config } : {}),
      ...(disk ? { dataDir: disk.dir } : {}),
    });
    await gw.start();
    const port = await toxi.proxy('devices', gw.mqttPort);
    const healthUrl = `http://127.0.0.1:${gw.httpPort}/healthz`;
    const none = (): void => {};
    return {
      kafka,
      gw,
      devices: { url: `mqtt://127.0.0.1:${port}`, blackhole: none, latency: none, restore: none },
      toxi: new ToxicLinks(toxi, gw, healthUrl, relayed !== undefined),
      healthUrl,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
