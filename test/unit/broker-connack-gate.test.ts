// The CONNACK gate on a stand-in for aedes' client (its two delivery functions and the connection's close): while a
// persistent session waits for its CONNACK, QoS 1/2 deliveries are not written (the replay sends them from the
// session's queue) and QoS 0 ones are held, in order, up to a bound; the CONNACK lets them through; a connection that
// closes first gets none of them.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConnackGate, type GatedClient } from '../../gateway/broker-connack-gate.ts';

function client() {
  const written: string[] = [];
  const conn = new EventEmitter();
  const c: GatedClient = {
    deliverQoS(p, cb) {
      const packet = p as { qos: number; id: string };
      if (packet.qos === 0) return c.deliver0(p, cb);
      written.push(`qos${packet.qos} ${packet.id}`);
      cb();
    },
    deliver0(p, cb) {
      written.push(`qos0 ${(p as { id: string }).id}`);
      cb();
    },
    conn,
  };
  return { c, written, conn };
}

describe('CONNACK gate', () => {
  it('writes nothing before the CONNACK, QoS 0 held in order after it, QoS 1 left to the replay', () => {
    const { c, written } = client();
    const gate = new ConnackGate();
    gate.hold(c);
    const acks: string[] = [];
    c.deliverQoS({ qos: 1, id: 'a' }, () => acks.push('a'));
    c.deliver0({ qos: 0, id: 'b' }, () => acks.push('b'));
    c.deliverQoS({ qos: 0, id: 'c' }, () => acks.push('c'));
    expect(written).toEqual([]);
    expect(acks).toEqual(['a', 'b', 'c']); // no publisher waits on the connect
    gate.open(c);
    expect(written).toEqual(['qos0 b', 'qos0 c']);
    c.deliverQoS({ qos: 1, id: 'd' }, () => {});
    c.deliver0({ qos: 0, id: 'e' }, () => {});
    expect(written).toEqual(['qos0 b', 'qos0 c', 'qos1 d', 'qos0 e']);
  });

  it('a connection that closes before its CONNACK gets nothing held', () => {
    const { c, written, conn } = client();
    const gate = new ConnackGate();
    gate.hold(c);
    c.deliver0({ qos: 0, id: 'a' }, () => {});
    conn.emit('close');
    gate.open(c);
    expect(written).toEqual([]);
  });

  it('holds at most 100 QoS 0 deliveries; later ones are written at once', () => {
    const { c, written } = client();
    const gate = new ConnackGate();
    gate.hold(c);
    for (let i = 0; i < 102; i++) c.deliver0({ qos: 0, id: String(i) }, () => {});
    expect(written).toEqual(['qos0 100', 'qos0 101']);
    gate.open(c);
    expect(written).toHaveLength(102);
    expect(written.slice(2, 4)).toEqual(['qos0 0', 'qos0 1']);
  });

  it('a client not held is not changed', () => {
    const { c, written } = client();
    const before = c.deliverQoS;
    new ConnackGate().open(c);
    expect(c.deliverQoS).toBe(before);
    c.deliverQoS({ qos: 1, id: 'x' }, () => {});
    expect(written).toEqual(['qos1 x']);
  });
});
