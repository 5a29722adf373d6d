// The timed steps of a chaos scenario, acting on the rig (Kafka, gateway, links, disks).
import { BROKER } from './failover.ts';
import { healthGauges } from './gauges.ts';
import { type PowerCutRecord, readyInfo } from './power.ts';
import type { ChaosRig } from './rig.ts';
import type { Action, Step } from './scenario.ts';
import { toxicSteps } from './toxics.ts';

async function waitUntil(at: number): Promise<void> {
  const ms = at - Date.now();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}

async function restoreUplink(rig: ChaosRig): Promise<void> {
  rig.uplink?.restore();
  if (rig.netns) {
    await rig.netns.linkUp(rig.netns.uplink);
    await rig.netns.clearQdisc(rig.netns.uplink);
  }
}

type Mark = (label: string) => void;
type Undo = () => Promise<void>;
/** Applies one step; returns the undo to run after `for` seconds, if the step has one. */
type Apply = (s: Step, rig: ChaosRig, mark: Mark) => Promise<Undo | undefined>;

/** The part a step needs, present by the scenario's checks (kafka: local, network: namespace, disk). */
function need<T>(part: T | undefined, what: string): T {
  if (part === undefined) throw new Error(`this step needs ${what}`);
  return part;
}

const restoreDevices =
  (rig: ChaosRig, mark: Mark): Undo =>
  async () => {
    mark('link restored');
    rig.devices.restore();
  };

const KAFKA = {
  'kafka-stop': async (_s, rig, mark) => {
    mark('kafka stop');
    await need(rig.kafka, 'kafka: local').stop();
    return undefined;
  },
  'kafka-kill': async (_s, rig, mark) => {
    mark('kafka SIGKILL');
    await need(rig.kafka, 'kafka: local').kill();
    return undefined;
  },
  'kafka-start': async (_s, rig, mark) => {
    mark('kafka start');
    await need(rig.kafka, 'kafka: local').restart();
    mark('kafka up');
    return undefined;
  },
} satisfies Partial<Record<Action, Apply>>;

const GATEWAY = {
  'gateway-kill': async (s, rig, mark) => {
    mark('gateway SIGKILL');
    await rig.gw.kill('SIGKILL');
    if (s.for) await waitUntil(Date.now() + s.for * 1000);
    await rig.gw.start();
    mark('gateway up');
    return undefined;
  },
  'gateway-stop': async (_s, rig, mark) => {
    mark('gateway SIGTERM');
    await rig.gw.kill('SIGTERM');
    return undefined;
  },
  'gateway-start': async (_s, rig, mark) => {
    await rig.gw.start();
    mark('gateway up');
    return undefined;
  },
  // Validation keeps it to a fleet of gateways (gateway-fleet.ts runs those steps).
  'volume-wipe': async () => {
    throw new Error('volume-wipe needs gateways: N');
  },
} satisfies Partial<Record<Action, Apply>>;

const DEVICE_LINK = {
  blackhole: async (_s, rig, mark) => {
    mark('blackhole');
    rig.devices.blackhole();
    return restoreDevices(rig, mark);
  },
  latency: async (s, rig, mark) => {
    mark(`latency +${s.ms} ms`);
    rig.devices.latency(s.ms ?? 0);
    return restoreDevices(rig, mark);
  },
  restore: async (_s, rig, mark) => {
    await restoreDevices(rig, mark)();
    return undefined;
  },
} satisfies Partial<Record<Action, Apply>>;

const UPLINK = {
  'uplink-blackhole': async (_s, rig, mark) => {
    const ns = need(rig.netns, 'network: namespace');
    mark('uplink down');
    await ns.linkDown(ns.uplink);
    return async () => {
      mark('uplink up');
      await ns.linkUp(ns.uplink);
    };
  },
  'uplink-latency': async (s, rig, mark) => {
    const uplink = need(rig.uplink, 'network: namespace');
    mark(`uplink latency +${s.ms} ms`);
    uplink.latency(s.ms ?? 0);
    return async () => {
      mark('uplink restored');
      uplink.restore();
    };
  },
  'uplink-bandwidth': async (s, rig, mark) => {
    const ns = need(rig.netns, 'network: namespace');
    mark(`uplink ${s.kbit} kbit/s`);
    await ns.bandwidth(ns.uplink, s.kbit ?? 1000);
    return async () => {
      mark('uplink restored');
      await ns.clearQdisc(ns.uplink);
    };
  },
  'uplink-netem': async (s, rig, mark) => {
    const ns = need(rig.netns, 'network: namespace');
    mark(`uplink netem ${s.ms} ms ${s.loss}% loss`);
    await ns.netem(ns.uplink, s.ms ?? 0, s.loss ?? 0);
    return async () => {
      mark('uplink restored');
      await ns.clearQdisc(ns.uplink);
    };
  },
  'uplink-restore': async (_s, rig, mark) => {
    mark('uplink restored');
    await restoreUplink(rig);
    return undefined;
  },
} satisfies Partial<Record<Action, Apply>>;

const DISK = {
  'disk-full': async (_s, rig, mark) => {
    const disk = need(rig.disk, 'disk: { size_mb }');
    const bytes = await disk.fill();
    mark(`data disk full (+${(bytes / 2 ** 20).toFixed(0)} MB)`);
    return async () => {
      mark('data disk freed');
      await disk.free();
    };
  },
  'disk-free': async (_s, rig, mark) => {
    mark('data disk freed');
    await need(rig.disk, 'disk: { size_mb }').free();
    return undefined;
  },
} satisfies Partial<Record<Action, Apply>>;

/**
 * The power cut: the gateway dies (SIGKILL), then the disk forgets what was not synced; nothing runs on the disk in
 * between, so what is left is the disk as it was when the gateway died. After `for` seconds the disk is mounted again
 * and the gateway started on what it kept; a start that fails is recorded (the supervisor goes on trying).
 */
const POWER = {
  'power-cut': async (s, rig, mark) => {
    const power = need(rig.power, 'disk: { kind: powercut }');
    const backlog = (await healthGauges(rig.healthUrl)).backlogRecords ?? null;
    const at = Date.now();
    mark(`power cut${backlog === null ? '' : ` (backlog ${backlog})`}`);
    await rig.gw.kill('SIGKILL');
    await power.disk.cut();
    if (s.for) await waitUntil(Date.now() + s.for * 1000);
    await power.disk.mount();
    const rec: PowerCutRecord = { at, backlogRecords: backlog, reopened: false, ready: null };
    power.cuts.push(rec);
    try {
      await rig.gw.start();
      rec.reopened = true;
      rec.ready = readyInfo(rig.gw.output);
      mark('power back, gateway up');
    } catch (err) {
      const error = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
      rec.error = error;
      mark(`power back, the gateway did not start: ${error}`);
    }
    return undefined;
  },
} satisfies Partial<Record<Action, Apply>>;

/** Every action has its step: the compiler refuses an action without one. With links: toxiproxy the device-link
 * steps are done with toxics (toxics.ts). */
const APPLY: Record<Action, Apply> = {
  ...KAFKA,
  ...GATEWAY,
  ...DEVICE_LINK,
  ...UPLINK,
  ...DISK,
  ...POWER,
  ...BROKER,
  ...toxicSteps(DEVICE_LINK),
};

/** Runs the steps in time order; a step that takes long (a restart) delays the ones after it, never skips them. */
export async function runSteps(
  steps: Step[],
  started: number,
  rig: ChaosRig,
  mark: (label: string) => void,
): Promise<void> {
  const undos: Promise<void>[] = [];
  for (const s of steps) {
    await waitUntil(started + s.at * 1000);
    const undo = await APPLY[s.do](s, rig, mark);
    if (undo && s.for !== undefined) undos.push(waitUntil(Date.now() + s.for * 1000).then(undo));
  }
  await Promise.all(undos);
}
