// A private network for the gateway, made by the tool itself: a Linux network namespace with two veth pairs to the
// host — one carries the devices' MQTT, the other the gateway's uplink to Kafka — so a fault on one link is a real
// kernel-level fault (link down: packets dropped, no RST; tbf: a bandwidth cap; netem where the kernel has it)
// that leaves the other link alone. Needs root (CAP_NET_ADMIN); only loopback and these veths are touched.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

async function tc(ns: string, ...args: string[]): Promise<void> {
  try {
    await run('ip', ['netns', 'exec', ns, 'tc', ...args]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`tc ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

export interface VethLink {
  /** Interface on the host side / inside the namespace. */
  hostIf: string;
  nsIf: string;
  hostIp: string;
  nsIp: string;
}

export class GatewayNetns {
  readonly name: string;
  readonly devices: VethLink;
  readonly uplink: VethLink;
  private created = false;

  constructor() {
    const id = randomBytes(3).toString('hex');
    // Interface names have at most 15 characters; a random /24 pair keeps parallel runs apart.
    const a = 16 + (parseInt(id.slice(0, 2), 16) % 200);
    const b = parseInt(id.slice(2, 4), 16);
    this.name = `dsim-${id}`;
    this.devices = { hostIf: `dsd${id}h`, nsIf: `dsd${id}n`, hostIp: `10.${a}.${b}.1`, nsIp: `10.${a}.${b}.2` };
    this.uplink = { hostIf: `dsu${id}h`, nsIf: `dsu${id}n`, hostIp: `10.${a}.${b}.5`, nsIp: `10.${a}.${b}.6` };
  }

  /** Command prefix that runs a program inside the namespace. */
  exec(cmd: string, args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, cmd, ...args]];
  }

  async create(): Promise<void> {
    await ip('netns', 'add', this.name);
    this.created = true;
    await ip('-n', this.name, 'link', 'set', 'lo', 'up');
    for (const l of [this.devices, this.uplink]) {
      await ip('link', 'add', l.hostIf, 'type', 'veth', 'peer', 'name', l.nsIf);
      await ip('link', 'set', l.nsIf, 'netns', this.name);
      await ip('addr', 'add', `${l.hostIp}/30`, 'dev', l.hostIf);
      await ip('-n', this.name, 'addr', 'add', `${l.nsIp}/30`, 'dev', l.nsIf);
      await ip('link', 'set', l.hostIf, 'up');
      await ip('-n', this.name, 'link', 'set', l.nsIf, 'up');
    }
  }

  /** Link down: every packet on it is dropped silently until `linkUp`. */
  async linkDown(l: VethLink): Promise<void> {
    await ip('link', 'set', l.hostIf, 'down');
  }

  async linkUp(l: VethLink): Promise<void> {
    await ip('link', 'set', l.hostIf, 'up');
  }

  /** A token-bucket bandwidth cap on the namespace side of a link (egress from the gateway). */
  async bandwidth(l: VethLink, kbit: number): Promise<void> {
    await tc(
      this.name,
      'qdisc',
      'replace',
      'dev',
      l.nsIf,
      'root',
      'tbf',
      'rate',
      `${kbit}kbit`,
      'burst',
      '16kbit',
      'latency',
      '2s',
    );
  }

  /** Delay and loss with netem, when the kernel has it (this fails with a clear error where it does not). */
  async netem(l: VethLink, delayMs: number, lossPct: number): Promise<void> {
    try {
      await tc(
        this.name,
        'qdisc',
        'replace',
        'dev',
        l.nsIf,
        'root',
        'netem',
        'delay',
        `${delayMs}ms`,
        'loss',
        `${lossPct}%`,
      );
    } catch (err) {
      throw new Error(`netem is not available in this kernel (${(err as Error).message})`, { cause: err });
    }
  }

  async clearQdisc(l: VethLink): Promise<void> {
    await tc(this.name, 'qdisc', 'del', 'dev', l.nsIf, 'root').catch(() => {});
  }

  async destroy(): Promise<void> {
    if (!this.created) return;
    // Deleting the namespace removes its veth ends, and with them the host ends.
    await ip('netns', 'del', this.name).catch(() => {});
    for (const l of [this.devices, this.uplink]) await ip('link', 'del', l.hostIf).catch(() => {});
    this.created = false;
  }
}

/** True when this process may create namespaces (root with CAP_NET_ADMIN and the ip tool present). */
export async function netnsAvailable(): Promise<boolean> {
  const probe = new GatewayNetns();
  try {
    await ip('netns', 'add', probe.name);
    await ip('netns', 'del', probe.name);
    return true;
  } catch {
    return false;
  }
}
