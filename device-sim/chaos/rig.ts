// The rig a chaos scenario acts on: the gateway as a child process, the fault relay between the devices and it, and
// in namespace mode the gateway's own network namespace with the relays of its Kafka uplink.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { GatewayProcess } from '../../test/harness/gateway-process.ts';
import type { LocalKafka } from '../../test/harness/kafka.ts';
import type { DataDisk } from './disk.ts';
import type { ClusterLog } from './failover.ts';
import { GatewayNetns } from './netns.ts';
import type { PowerLog } from './power.ts';
import { FaultProxy } from './proxy.ts';
import type { Scenario } from './scenario.ts';
import type { ToxicLinks } from './toxic-links.ts';

/** Ports inside the private namespace: nothing else listens there. */
const NS_HTTP_PORT = 8080;

/** The device link's end the fleet connects to, with the relay's faults (Toxiproxy's links have their own). */
export type DeviceLink = Pick<FaultProxy, 'url' | 'blackhole' | 'latency' | 'restore'>;

/** The pieces a scenario acts on. */
export interface ChaosRig {
  kafka: LocalKafka | undefined;
  gw: GatewayProcess;
  /** Between the devices and the gateway. */
  devices: DeviceLink;
  /** Namespace mode: the gateway's network and the host end of its Kafka uplink. */
  netns?: GatewayNetns;
  uplink?: FaultProxy;
  disk?: DataDisk;
  /** The power-cut disk and what its cuts saw. */
  power?: PowerLog;
  /** kafka: { cluster: 3 }: the cluster, its uplink topic and what the broker-* steps did. */
  cluster?: ClusterLog;
  /** links: toxiproxy: the device link and the Kafka link through Toxiproxy (toxic steps). */
  toxi?: ToxicLinks;
  /** The gateway's /healthz, sampled for its backlog gauges. */
  healthUrl: string;
  cleanup: () => Promise<void>;
}

export async function relayRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  disk: { dir: string } | undefined,
): Promise<ChaosRig> {
  const gw = await GatewayProcess.create({
    // As balena's `restart: always`: a gateway that exits by itself (75 on a full disk) is started again.
    supervise: true,
    env: { GATEWAY_KAFKA_BROKERS: brokers.join(','), ...sc.gateway.env },
    ...(sc.gateway.config !== undefined ? { configYaml: sc.gateway.config } : {}),
    ...(disk ? { dataDir: disk.dir } : {}),
  });
  const devices = new FaultProxy('127.0.0.1', gw.mqttPort);
  const cleanup = async (): Promise<void> => {
    await devices.close();
    await gw.close();
  };
  try {
    await gw.start();
    await devices.start();
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { kafka, gw, devices, healthUrl: `http://127.0.0.1:${gw.httpPort}/healthz`, cleanup };
}

type Closable = { close: () => Promise<void> };

/**
 * For each broker: a fault relay on the host end of the uplink veth to the real Kafka, and a relay inside the
 * namespace on the address Kafka advertises (127.0.0.1:port) forwarding to it. Returns the (last) host-side relay.
 */
async function uplinkRelays(ns: GatewayNetns, brokers: string[], started: Closable[]): Promise<FaultProxy | undefined> {
  const relays: string[] = [];
  let uplink: FaultProxy | undefined;
  for (const b of brokers) {
    const [host = '', port = ''] = b.split(':');
    const u = new FaultProxy(host, Number(port));
    uplink = u;
    await u.start(Number(port), ns.uplink.hostIp);
    started.push({ close: () => u.close() });
    relays.push(`127.0.0.1:${port}=${ns.uplink.hostIp}:${port}`);
  }
  const relayCli = fileURLToPath(new URL('./relay-cli.ts', import.meta.url));
  for (const r of relays) {
    const [listen = '', target = ''] = r.split('=');
    const [cmd, args] = ns.exec(process.execPath, [relayCli, listen, target]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push({
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }
      },
    });
    await once(child.stdout, 'data');
  }
  return uplink;
}

/**
 * Namespace mode: the gateway runs in its own network namespace. Kafka advertises 127.0.0.1:port, so a relay inside
 * the namespace listens on that address and forwards over the uplink veth to a relay on the host, which reaches the
 * real Kafka. Devices reach the gateway over the other veth, through the host's device relay.
 */
export async function namespaceRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  disk: { dir: string } | undefined,
): Promise<ChaosRig> {
  const ns = new GatewayNetns();
  const started: Closable[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of started.reverse()) await s.close().catch(() => {});
    await ns.destroy();
  };
  try {
    await ns.create();
    started.push({ close: () => ns.destroy() });
    const uplink = await uplinkRelays(ns, brokers, started);
    const gw = await GatewayProcess.create({
      wrap: (cmd, args) => ns.exec(cmd, args),
      supervise: true,
      env: {
        // The simulated devices connect without credentials from the namespace's other end. Asked for explicitly,
        // anonymous access opens the listeners (host `auto`) on the namespace's own address; the flow editor, which
        // has no login here, stays closed to it.
        GATEWAY_SECURITY_ANONYMOUS: 'true',
        GATEWAY_MQTT_HOST: 'auto',
        GATEWAY_HTTP_HOST: 'auto',
        GATEWAY_KAFKA_BROKERS: brokers.map((b) => `127.0.0.1:${b.split(':')[1]}`).join(','),
        ...sc.gateway.env,
      },
      ...(sc.gateway.config !== undefined ? { configYaml: sc.gateway.config } : {}),
      mqttPort: 1883,
      httpPort: NS_HTTP_PORT,
      ...(disk ? { dataDir: disk.dir } : {}),
    });
    started.push({ close: () => gw.close() });
    await gw.start();
    const devices = new FaultProxy(ns.devices.nsIp, gw.mqttPort);
    await devices.start();
    started.push({ close: () => devices.close() });
    const healthUrl = `http://${ns.devices.nsIp}:${NS_HTTP_PORT}/healthz`;
    return { kafka, gw, devices, netns: ns, ...(uplink ? { uplink } : {}), healthUrl, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
