// The scenario keys of Toxiproxy links (`links: toxiproxy`): the `toxic` and `toxic-clear` steps' keys, what each
// toxic type reads, the problems the schema cannot express (one line per key), and how a step's keys map to
// Toxiproxy's attribute names. Pure: the schema side only.
import { Type } from '@sinclair/typebox';

export const TOXIC_TYPES = ['latency', 'bandwidth', 'timeout', 'reset_peer', 'slicer'] as const;
export type ToxicType = (typeof TOXIC_TYPES)[number];
export type LinkName = 'devices' | 'kafka';
export type StreamKey = 'upstream' | 'downstream' | 'both';

const num = (min: number, description: string) =>
  Type.Optional(Type.Number({ minimum: min, description, errorMessage: `expected a number >= ${min}` }));

/** The keys a step may have for the toxic steps (spread into the step schema). */
export const TOXIC_STEP_KEYS = {
  link: Type.Optional(
    Type.Union([Type.Literal('devices'), Type.Literal('kafka')], { errorMessage: 'devices or kafka' }),
  ),
  type: Type.Optional(
    Type.Union(
      [
        Type.Literal('latency'),
        Type.Literal('bandwidth'),
        Type.Literal('timeout'),
        Type.Literal('reset_peer'),
        Type.Literal('slicer'),
      ],
      { errorMessage: TOXIC_TYPES.join('|') },
    ),
  ),
  stream: Type.Optional(
    Type.Union([Type.Literal('upstream'), Type.Literal('downstream'), Type.Literal('both')], {
      errorMessage: 'upstream, downstream or both',
    }),
  ),
  jitter: num(0, 'toxic latency: ms of jitter (±)'),
  bytes: num(1, 'toxic slicer: average size of the slices in bytes'),
  variation: num(0, 'toxic slicer: ± bytes around the average'),
  delay_us: num(0, 'toxic slicer: µs between the slices'),
};

/** The numbers a toxic step may give (which ones each type reads: TOXIC_KEYS). */
const ATTRS = ['ms', 'jitter', 'kbit', 'bytes', 'variation', 'delay_us'] as const;
type Attr = (typeof ATTRS)[number];
/** Keys only the toxic steps read (link also toxic-clear). */
const TOXIC_ONLY = ['link', 'type', 'stream', 'jitter', 'bytes', 'variation', 'delay_us'] as const;

/** What each toxic type reads: 0 = defaults to 0, 'required' = must be given. */
export const TOXIC_KEYS: Record<ToxicType, Partial<Record<Attr, 0 | 'required'>>> = {
  latency: { ms: 'required', jitter: 0 },
  bandwidth: { kbit: 'required' },
  timeout: { ms: 0 },
  reset_peer: { ms: 0 },
  slicer: { bytes: 'required', variation: 0, delay_us: 0 },
};

const isType = (v: unknown): v is ToxicType => TOXIC_TYPES.some((t) => t === v);

export interface ToxicContext {
  links: unknown;
  kafka: unknown;
}

/** A toxic step's problems: its link and type, the keys its type needs and the ones it does not read, the links. */
export function toxicStepProblems(s: Record<string, unknown>, path: string, c: ToxicContext): string[] {
  const out: string[] = [];
  const toxic = s.do === 'toxic';
  if (s.do !== 'toxic' && s.do !== 'toxic-clear') {
    for (const k of TOXIC_ONLY) if (s[k] !== undefined) out.push(`${path}.${k}: only with do: toxic`);
    return out;
  }
  if (c.links !== 'toxiproxy') out.push(`${path}.do: ${s.do} needs links: toxiproxy`);
  if (s.link === undefined) out.push(`${path}.link: devices or kafka (required)`);
  if (s.link === 'kafka' && c.kafka !== 'local') out.push(`${path}.link: the kafka link needs kafka: local`);
  if (!toxic) {
    for (const k of [...ATTRS, 'type', 'stream'])
      if (s[k] !== undefined) out.push(`${path}.${k}: not read by toxic-clear`);
    return out;
  }
  if (s.type === undefined) out.push(`${path}.type: ${TOXIC_TYPES.join('|')} (required)`);
  if (!isType(s.type)) return out;
  const keys = TOXIC_KEYS[s.type];
  for (const k of ATTRS) {
    const rule = keys[k];
    if (rule === 'required' && s[k] === undefined) {
      out.push(`${path}.${k}: expected a number >= ${k === 'kbit' || k === 'bytes' ? 1 : 0} (required)`);
    }
    if (rule === undefined && s[k] !== undefined) {
      out.push(`${path}.${k}: not read by a ${s.type} toxic (it reads ${Object.keys(keys).join(', ')})`);
    }
  }
  if (typeof s.bytes === 'number' && typeof s.variation === 'number' && s.variation >= s.bytes) {
    out.push(`${path}.variation: must be smaller than bytes (${s.bytes})`);
  }
  return out;
}

/** `links: toxiproxy` runs on loopback: the gateway's own namespace cannot reach it. */
export function linksProblems(value: Record<string, unknown>): string[] {
  return value.links === 'toxiproxy' && value.network === 'namespace'
    ? ['links: toxiproxy needs network: relay (Toxiproxy listens on the host loopback)']
    : [];
}

/** A toxic step's keys, as the scenario gives them. */
type ToxicStepKeys = Partial<Record<Attr, number>> & { link?: LinkName; type?: ToxicType; stream?: StreamKey };

/** A toxic to put on a link: the step's keys with its link, type and stream settled. */
export type ToxicSpec = ToxicStepKeys & { link: LinkName; type: ToxicType; stream: StreamKey };

/** The keys a toxic step keeps, with defaults (stream: both); none for the other steps. */
export function toxicKeys(s: ToxicStepKeys & { do: string }): ToxicStepKeys {
  if (s.do === 'toxic-clear') return s.link ? { link: s.link } : {};
  if (s.do !== 'toxic' || !s.type) return {};
  const out: ToxicStepKeys = { ...(s.link ? { link: s.link } : {}), type: s.type, stream: s.stream ?? 'both' };
  for (const [k, rule] of Object.entries(TOXIC_KEYS[s.type]) as [Attr, 0 | 'required'][]) {
    const v = s[k] ?? (rule === 0 ? 0 : undefined);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The Toxiproxy attributes of a toxic step: times in ms, bandwidth in whole KB/s (kbit / 8), slicer delay in µs. */
export function toxicAttributes(s: ToxicStepKeys): Record<string, number> {
  switch (s.type) {
    case 'latency':
      return { latency: s.ms ?? 0, jitter: s.jitter ?? 0 };
    case 'bandwidth':
      return { rate: Math.max(1, Math.round((s.kbit ?? 8) / 8)) };
    case 'timeout':
    case 'reset_peer':
      return { timeout: s.ms ?? 0 };
    case 'slicer':
      return { average_size: s.bytes ?? 1, size_variation: s.variation ?? 0, delay: s.delay_us ?? 0 };
    default:
      return {};
  }
}

/** How a toxic reads on the timeline: `latency 500±100 ms`, `bandwidth 64 kbit/s`, `timeout (blackhole)`. */
export function toxicLabel(s: ToxicStepKeys): string {
  const a = toxicAttributes(s);
  const stream = s.stream && s.stream !== 'both' ? ` ${s.stream}` : '';
  const what = (() => {
    switch (s.type) {
      case 'latency':
        return `latency ${a.latency}${a.jitter ? `±${a.jitter}` : ''} ms`;
      case 'bandwidth':
        return `bandwidth ${(a.rate ?? 0) * 8} kbit/s`;
      case 'timeout':
        return a.timeout ? `timeout ${a.timeout} ms` : 'timeout (blackhole)';
      case 'reset_peer':
        return a.timeout ? `reset_peer after ${a.timeout} ms` : 'reset_peer';
      case 'slicer':
        return `slicer ${a.average_size}±${a.size_variation} B${a.delay ? ` ${a.delay} µs apart` : ''}`;
      default:
        return String(s.type);
    }
  })();
  return `${s.link} link: ${what}${stream}`;
}
