// A steady QoS 1 trickle from a few devices, for the fault tests: each device publishes `${device}:${n}` to
// `devices/<device>/telemetry`, the next one `everyMs` after the previous PUBACK (the pause sets the rate; nothing
// waits on it for a result). The ledger counts acknowledged messages per device (sequences 0 .. n-1); a new Trickle
// given the same ledger continues it.
import mqtt, { type MqttClient } from 'mqtt';

export class Trickle {
  readonly acked: Map<string, number>;
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly clients: MqttClient[] = [];

  constructor(devices: readonly string[] | Map<string, number>) {
    this.acked = devices instanceof Map ? devices : new Map(devices.map((d) => [d, 0]));
  }

  async start(url: string, everyMs: number): Promise<void> {
    for (const d of this.acked.keys()) {
      const c = await mqtt.connectAsync(url, { clientId: d, clean: true, reconnectPeriod: 0 });
      this.clients.push(c);
      this.loops.push(this.loop(c, d, everyMs));
    }
  }

  private async loop(c: MqttClient, d: string, everyMs: number): Promise<void> {
    for (let n = this.acked.get(d) ?? 0; this.running; n++) {
      await c.publishAsync(`devices/${d}/telemetry`, `${d}:${n}`, { qos: 1 });
      this.acked.set(d, n + 1);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  get total(): number {
    return [...this.acked.values()].reduce((a, b) => a + b, 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.clients.splice(0)) await c.endAsync();
  }
}
