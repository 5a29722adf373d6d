// What a parsed scenario gives the run: the fleet's options (one fleet, or one per gateway of a fleet of gateways),
// and the scenario with the command line's durability override.
import type { FleetOptions } from '../fleet.ts';
import type { Scenario } from './scenario.ts';

/** The runFleet options of the scenario's `fleet` block; the caller adds the URL and what is its own. */
export function fleetOptions(sc: Scenario): Omit<FleetOptions, 'url'> {
  return {
    devices: sc.fleet.devices,
    profiles: sc.fleet.profiles,
    durationMs: sc.fleet.duration * 1000,
    ...(sc.fleet.interval !== undefined ? { intervalMs: sc.fleet.interval } : {}),
    qos: sc.fleet.qos,
    inflight: sc.fleet.inflight,
    offlineScale: sc.fleet.offline,
    churn: sc.fleet.churn,
    drainTimeoutMs: 120_000,
  };
}

/** The scenario with the gateway's store.durability set (GATEWAY_STORE_DURABILITY), the rest unchanged. */
export function withDurability(sc: Scenario, durability: 'fsync' | 'os' | undefined): Scenario {
  if (durability === undefined) return sc;
  return { ...sc, gateway: { ...sc.gateway, env: { ...sc.gateway.env, GATEWAY_STORE_DURABILITY: durability } } };
}
