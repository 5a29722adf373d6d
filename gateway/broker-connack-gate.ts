// aedes 1.2 restores a persistent session's subscriptions before it writes the CONNACK (lib/handlers/connect.js:
// restoreSubs, storeWill, registerClient, doConnack), so a message published in between was written to the device
// before its CONNACK, against MQTT 3.1.1's rule that the CONNACK is the first packet the server sends [MQTT-3.2.0-1].
// The gate holds a persistent session's deliveries from its CONNECT until its CONNACK is written, then hands them on
// in order. Clean sessions have no subscriptions before their CONNACK and are not gated.
//
// While a persistent session waits for its CONNACK, a QoS 1/2 delivery is not written: the message is in the
// session's stored queue already (aedes queues it for every persistent subscriber before it hands it out), and the
// replay that follows the CONNACK sends it from there, in the queue's order, after the older messages it holds. Its
// hand-out completes at once, so no publisher waits on a connect. A QoS 0 delivery (not stored) is held and written
// after the CONNACK; at most MAX_HELD are held, later ones are written at once as before. If the connection closes
// before its CONNACK, what is held is not written (QoS 0: at most once).

type Deliver = (packet: unknown, cb: () => void) => void;

/** The parts of an aedes client the gate replaces and listens to. */
export interface GatedClient {
  deliverQoS: Deliver;
  deliver0: Deliver;
  conn: { once(event: 'close', listener: () => void): unknown };
}

const MAX_HELD = 100;
const noop = (): void => {};

class Gate {
  private held: [Deliver, unknown][] | undefined = [];

  constructor(client: GatedClient) {
    const qos = client.deliverQoS;
    const zero = client.deliver0;
    // aedes takes these functions when it subscribes (restored subscriptions too), so they stay for the connection.
    client.deliverQoS = (p, cb) => {
      if (this.held === undefined || (p as { qos?: number }).qos === 0) return qos(p, cb);
      cb();
    };
    client.deliver0 = (p, cb) => {
      const held = this.held;
      if (held === undefined || held.length >= MAX_HELD) return zero(p, cb);
      held.push([zero, p]);
      cb();
    };
    client.conn.once('close', () => {
      this.held = undefined;
    });
  }

  /** The CONNACK is written: the held QoS 0 deliveries go out in order, later deliveries straight away. */
  open(): void {
    const held = this.held;
    this.held = undefined;
    if (held) for (const [fn, p] of held) fn(p, noop);
  }
}

export class ConnackGate {
  private readonly gates = new WeakMap<object, Gate>();

  /** Called from preConnect for a CONNECT with a persistent session (clean: false). */
  hold(client: GatedClient): void {
    this.gates.set(client, new Gate(client));
  }

  /** aedes' `connackSent` for `client`. */
  open(client: object): void {
    const gate = this.gates.get(client);
    if (!gate) return;
    this.gates.delete(client);
    gate.open();
  }
}
