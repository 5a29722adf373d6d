// Seeded MQTT fuzz input: valid packets of every type made with mqtt-packet (the broker's own codec), then mutated
// with bit flips, truncation, bogus remaining lengths, wrong packet types and flags, inserted and random bytes. One
// "script" is what one TCP connection sends; the same seed always gives the same scripts.
import fc from 'fast-check';
import { generate, type Packet } from 'mqtt-packet';

export const MUTATIONS = ['none', 'bitflip', 'truncate', 'length', 'type', 'insert', 'random', 'repeat'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface FuzzItem {
  mutation: Mutation;
  bytes: Buffer;
}

export interface Script {
  /** Starts with a valid clean CONNECT, so the packets after it reach the connected-client paths. */
  connectFirst: boolean;
  /** Each packet in its own write (several socket reads) instead of one buffer. */
  splitWrites: boolean;
  items: FuzzItem[];
}

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '#', '+', '$SYS/#', 'a/#/b', 'a\u0000b', 'devices/+/command') },
);
const topic = fc.oneof({ weight: 3, arbitrary: text.map((t) => `fuzz/${t}`) }, { weight: 1, arbitrary: text });
const qos = fc.constantFrom(0 as const, 1 as const, 2 as const);
const messageId = fc.integer({ min: 1, max: 65535 });
const payload = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 4096, maxLength: 20_000 }) },
);
/** Fuzz client ids never collide with the ids of the clients the tests keep connected. */
const clientId = fc.oneof(
  { weight: 6, arbitrary: text.map((t) => `fz-${t}`) },
  { weight: 1, arbitrary: fc.constant('') },
);

const packet: fc.Arbitrary<Packet> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ qos, topic, payload, messageId, retain: fc.boolean(), dup: fc.boolean() })
      .map((p): Packet => ({ cmd: 'publish', ...p, payload: Buffer.from(p.payload) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        clientId,
        version: fc.constantFrom(4 as const, 4 as const, 3 as const, 5 as const),
        keepalive: fc.integer({ min: 0, max: 65535 }),
        will: fc.option(fc.record({ topic, payload, qos, retain: fc.boolean() }), { nil: undefined }),
      })
      .map(
        (c): Packet => ({
          cmd: 'connect',
          clientId: c.clientId,
          protocolVersion: c.version,
          protocolId: c.version === 3 ? 'MQIsdp' : 'MQTT',
          clean: true,
          keepalive: c.keepalive,
          ...(c.will ? { will: { ...c.will, payload: Buffer.from(c.will.payload) } } : {}),
        }),
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ messageId, subscriptions: fc.array(fc.record({ topic, qos }), { minLength: 1, maxLength: 4 }) })
      .map((s): Packet => ({ cmd: 'subscribe', ...s })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ messageId, unsubscriptions: fc.array(topic, { minLength: 1, maxLength: 4 }) })
      .map((u): Packet => ({ cmd: 'unsubscribe', ...u })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        cmd: fc.constantFrom('puback' as const, 'pubrec' as const, 'pubrel' as const, 'pubcomp' as const),
        messageId,
      })
      .map((a): Packet => a),
  },
  { weight: 1, arbitrary: fc.constantFrom<Packet>({ cmd: 'pingreq' }, { cmd: 'disconnect' }, { cmd: 'pingresp' }) },
  // Packets only a server sends: a client sending them is a protocol violation [MQTT-4.8.0-1].
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc
        .record({ returnCode: fc.integer({ min: 0, max: 5 }), sessionPresent: fc.boolean() })
        .map((c): Packet => ({ cmd: 'connack', ...c })),
      fc
        .record({ messageId, granted: fc.array(fc.constantFrom(0, 1, 2, 128), { minLength: 1, maxLength: 3 }) })
        .map((s): Packet => ({ cmd: 'suback', ...s })),
      messageId.map((id): Packet => ({ cmd: 'unsuback', messageId: id, granted: [] })),
    ),
  },
);

/** A remaining-length field from the edges: 256 MB claims, a fifth continuation byte, zero, or random bytes. */
const lengthField = fc.oneof(
  fc.constantFrom([0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80], [0x00], [0x7f]),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }),
);

const mutation = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('bitflip' as const),
      at: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('length' as const), field: lengthField }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('type' as const), byte: fc.integer({ min: 0, max: 255 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), times: fc.integer({ min: 2, max: 50 }) }) },
);
type MutationSpec = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

/** Offset of the variable header: after the type byte and the 1-4 byte remaining length. */
function bodyOffset(b: Buffer): number {
  let i = 1;
  while (i < b.length && i < 5 && (b[i]! & 0x80) !== 0) i++;
  return Math.min(i + 1, b.length);
}

export function mutate(b: Buffer, m: MutationSpec): Buffer {
  switch (m.kind) {
    case 'none':
      return b;
    case 'bitflip': {
      const out = Buffer.from(b);
      for (const n of m.at) {
        const bit = n % (out.length * 8);
        out[bit >> 3]! ^= 1 << (bit & 7);
      }
      return out;
    }
    case 'truncate':
      return b.subarray(0, m.at % b.length);
    case 'length':
      return Buffer.concat([b.subarray(0, 1), Buffer.from(m.field), b.subarray(bodyOffset(b))]);
    case 'type':
      return Buffer.concat([Buffer.from([m.byte]), b.subarray(1)]);
    case 'insert': {
      const at = m.at % (b.length + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    }
    case 'random':
      return Buffer.from(m.bytes);
    case 'repeat':
      return Buffer.concat(Array.from({ length: m.times }, () => b));
  }
}

function encode(p: Packet): Buffer {
  try {
    return generate(p, p.cmd === 'connect' && p.protocolVersion === 5 ? { protocolVersion: 5 } : undefined);
  } catch {
    // The codec refuses some generated values (e.g. an empty topic): send its refusal's neighbour, a bare header.
    return Buffer.from([0x30, 0x00]);
  }
}

const item = fc.tuple(packet, mutation).map(([p, m]): FuzzItem => ({ mutation: m.kind, bytes: mutate(encode(p), m) }));

export const script: fc.Arbitrary<Script> = fc.record({
  connectFirst: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  splitWrites: fc.boolean(),
  items: fc.array(item, { minLength: 1, maxLength: 16 }),
});

/** The valid CONNECT a script starts with when `connectFirst` is set. */
export function connectPacket(id: string): Buffer {
  return generate({ cmd: 'connect', clientId: id, protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30 });
}

/**
 * Scripts from `seed` until at least `packets` fuzz items were made, in chunks (the same seed and count give the
 * same scripts in the same order).
 */
export function* scripts(seed: number, packets: number, chunk = 200): Generator<Script> {
  let made = 0;
  for (let n = 0; made < packets; n++) {
    for (const s of fc.sample(script, { seed: (seed + n * 7919) | 0, numRuns: chunk })) {
      yield s;
      made += s.items.length;
      if (made >= packets) return;
    }
  }
}
