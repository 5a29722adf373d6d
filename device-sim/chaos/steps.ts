// The timed steps of a chaos scenario, acting on the rig (Kafka, gateway, links).
import type { ChaosRig } from './run.ts';
import type { Step } from './scenario.ts';

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

/** Runs one step; returns the undo to run after `for` seconds, if the step has one. */
async function apply(
  s: Step,
  rig: ChaosRig,
  mark: (label: string) => void,
): Promise<(() => Promise<void>) | undefined> {
  const ns = rig.netns;
  switch (s.do) {
    case 'kafka-stop':
      mark('kafka stop');
      await rig.kafka!.stop();
      return undefined;
    case 'kafka-kill':
      mark('kafka SIGKILL');
      await rig.kafka!.kill();
      return undefined;
    case 'kafka-start':
      mark('kafka start');
      await rig.kafka!.restart();
      mark('kafka up');
      return undefined;
    case 'gateway-kill':
      mark('gateway SIGKILL');
      await rig.gw.kill('SIGKILL');
      if (s.for) await waitUntil(Date.now() + s.for * 1000);
      await rig.gw.start();
      mark('gateway up');
      return undefined;
    case 'gateway-stop':
      mark('gateway SIGTERM');
      await rig.gw.kill('SIGTERM');
      return undefined;
    case 'gateway-start':
      await rig.gw.start();
      mark('gateway up');
      return undefined;
    case 'blackhole':
      mark('blackhole');
      rig.devices.blackhole();
      return async () => {
        mark('link restored');
        rig.devices.restore();
      };
    case 'latency':
      mark(`latency +${s.ms} ms`);
      rig.devices.latency(s.ms ?? 0);
      return async () => {
        mark('link restored');
        rig.devices.restore();
      };
    case 'restore':
      mark('link restored');
      rig.devices.restore();
      return undefined;
    case 'uplink-blackhole':
      mark('uplink down');
      await ns!.linkDown(ns!.uplink);
      return async () => {
        mark('uplink up');
        await ns!.linkUp(ns!.uplink);
      };
    case 'uplink-latency':
      mark(`uplink latency +${s.ms} ms`);
      rig.uplink!.latency(s.ms ?? 0);
      return async () => {
        mark('uplink restored');
        rig.uplink!.restore();
      };
    case 'uplink-bandwidth':
      mark(`uplink ${s.kbit} kbit/s`);
      await ns!.bandwidth(ns!.uplink, s.kbit ?? 1000);
      return async () => {
        mark('uplink restored');
        await ns!.clearQdisc(ns!.uplink);
      };
    case 'uplink-netem':
      mark(`uplink netem ${s.ms} ms ${s.loss}% loss`);
      await ns!.netem(ns!.uplink, s.ms ?? 0, s.loss ?? 0);
      return async () => {
        mark('uplink restored');
        await ns!.clearQdisc(ns!.uplink);
      };
    case 'disk-full': {
      const bytes = await rig.disk!.fill();
      mark(`data disk full (+${(bytes / 2 ** 20).toFixed(0)} MB)`);
      return async () => {
        mark('data disk freed');
        await rig.disk!.free();
      };
    }
    case 'disk-free':
      mark('data disk freed');
      await rig.disk!.free();
      return undefined;
    case 'uplink-restore':
      mark('uplink restored');
      await restoreUplink(rig);
      return undefined;
  }
}

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
    const undo = await apply(s, rig, mark);
    if (undo && s.for !== undefined) undos.push(waitUntil(Date.now() + s.for * 1000).then(undo));
  }
  await Promise.all(undos);
}
