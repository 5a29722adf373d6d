// The fixed-header scanner: it follows packet boundaries across any chunking, lets legitimate traffic through and
// refuses a length claim over the limit from the header alone.
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketScanner } from '../../gateway/limits/packet.ts';

const limits = { beforeConnect: 65536, afterConnect: 1048576 };

function stream(): Buffer {
  const parts = [
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'lock-1',
      clean: true,
      keepalive: 30,
    }),
  ];
  for (let i = 0; i < 200; i++) {
    parts.push(
      mqttPacket.generate({
        cmd: 'publish',
        topic: `devices/lock-1/state`,
        payload: Buffer.alloc((i * 7919) % 300_000, 1),
        qos: 1,
        messageId: i + 1,
        retain: false,
        dup: false,
      }),
    );
    parts.push(mqttPacket.generate({ cmd: 'pingreq' }));
  }
  return Buffer.concat(parts);
}

/** Splits `buf` into chunks of pseudo-random sizes (fixed seed), 1 byte to 64 KiB. */
function chunks(buf: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  for (let i = 0; i < buf.length; ) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % (x % 3 === 0 ? 8 : 65536));
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** The length varint of an MQTT fixed header. */
function header(type: number, length: number): Buffer {
  const bytes = [type];
  let l = length;
  do {
    let b = l % 128;
    l = Math.floor(l / 128);
    if (l > 0) b |= 0x80;
    bytes.push(b);
  } while (l > 0);
  return Buffer.from(bytes);
}

describe('PacketScanner', () => {
  it('passes legitimate traffic whatever the chunking, once CONNECT is accepted', () => {
    const buf = stream();
    for (const seed of [1, 2, 3, 42]) {
      const s = new PacketScanner(limits);
      const cs = chunks(buf, seed);
      // The CONNECT is 20-odd bytes: accept it after the first chunk, as the broker would after authenticating.
      expect(s.scan(cs[0]!)).toBeUndefined();
      s.connect();
      for (const c of cs.slice(1)) expect(s.scan(c)).toBeUndefined();
    }
  });

  it('refuses a 256 MB length claim before CONNECT from the header alone', () => {
    const s = new PacketScanner(limits);
    const h = header(0x10, 268_435_455);
    expect(s.scan(h.subarray(0, 3))).toBeUndefined(); // the varint is not complete yet
    expect(s.scan(h.subarray(3))).toBe('packet_before_connect');
    expect(s.claimed).toBe(268_435_460);
  });

  it('refuses a packet over maxPacketBytes after CONNECT, and one just under passes', () => {
    const ok = new PacketScanner(limits);
    ok.connect();
    expect(ok.scan(header(0x30, 1048576 - 5))).toBeUndefined();
    const big = new PacketScanner(limits);
    big.connect();
    expect(big.scan(header(0x30, 2 * 1048576))).toBe('packet_size');
  });

  it('caps the bytes sent before CONNECT is accepted, in many small packets too', () => {
    const s = new PacketScanner(limits);
    const small = Buffer.concat([header(0x30, 1000), Buffer.alloc(1000)]);
    let refusal: string | undefined;
    for (let i = 0; i < 100 && refusal === undefined; i++) refusal = s.scan(small);
    expect(refusal).toBe('packet_before_connect');
  });

  it('refuses a remaining length longer than four bytes [MQTT-2.2.3]', () => {
    const s = new PacketScanner(limits);
    expect(s.scan(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe('malformed_length');
  });
});
