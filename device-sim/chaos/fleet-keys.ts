// The scenario keys of a fleet of gateways (`gateways: N`): the top-level count, the `gateway` key of the steps that
// act on one of them, the `volume-wipe` step, and the problems the schema cannot express (one line per key). Pure:
// the schema side only.
import { Type } from '@sinclair/typebox';

export const MAX_GATEWAYS = 10;

/** The steps a fleet of gateways runs: those on one gateway (with `gateway: N`) and Kafka's. */
const PER_GATEWAY = ['gateway-kill', 'gateway-stop', 'gateway-start', 'volume-wipe'];
const FLEET_ACTIONS = [...PER_GATEWAY, 'kafka-stop', 'kafka-start', 'kafka-kill'];

export const GATEWAYS_KEY = Type.Optional(
  Type.Integer({
    minimum: 2,
    maximum: MAX_GATEWAYS,
    description:
      'a fleet of gateways into one Kafka: this many, each with its own id, data dir and fleet.devices devices',
    errorMessage: `a whole number 2-${MAX_GATEWAYS}`,
  }),
);

/** The key a step may have (spread into the step schema). */
export const GATEWAY_STEP_KEYS = {
  gateway: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_GATEWAYS,
      description: 'gateways: N: the gateway (1-N) a gateway-* or volume-wipe step acts on',
      errorMessage: `a gateway number 1-${MAX_GATEWAYS}`,
    }),
  ),
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a fleet of gateways cannot run with: each gateway has its own data dir and reaches Kafka directly. */
export function gatewaysProblems(value: Record<string, unknown>): string[] {
  if (value.gateways === undefined) return [];
  const out: string[] = [];
  if (value.network === 'namespace') out.push('network: namespace is for one gateway, not with gateways');
  if (value.links === 'toxiproxy') out.push('links: toxiproxy is for one gateway, not with gateways');
  if (value.disk !== undefined) out.push('disk: not with gateways (each gateway has a data dir of its own)');
  if (isObj(value.kafka) && value.kafka.cluster !== undefined) out.push('kafka: { cluster: 3 } is not with gateways');
  return out;
}

/** A step's `gateway` key and action against the scenario's `gateways` (undefined: one gateway). */
export function gatewayStepProblems(s: Record<string, unknown>, path: string, gateways: unknown): string[] {
  const action = String(s.do);
  const n = typeof gateways === 'number' ? gateways : undefined;
  if (n === undefined) {
    const out: string[] = [];
    if (action === 'volume-wipe') out.push(`${path}.do: volume-wipe needs gateways: N`);
    if (s.gateway !== undefined) out.push(`${path}.gateway: only with gateways: N`);
    return out;
  }
  if (!FLEET_ACTIONS.includes(action)) {
    return [`${path}.do: ${action} is not run on a fleet of gateways; one of ${FLEET_ACTIONS.join('|')}`];
  }
  if (!PER_GATEWAY.includes(action)) {
    return s.gateway === undefined ? [] : [`${path}.gateway: only for ${PER_GATEWAY.join('|')}`];
  }
  if (s.gateway === undefined) return [`${path}.gateway: a gateway 1-${n} (required)`];
  if (typeof s.gateway === 'number' && s.gateway > n) return [`${path}.gateway: there are ${n} gateways`];
  return [];
}
