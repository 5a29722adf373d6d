// A steady QoS 1 trickle from a few devices, for the fault tests: each device publishes `${device}:${n}` (or what
// `payload` makes of it) to `devices/<device>/telemetry`, the next one `everyMs` after the previous PUBACK (the pause
// sets the rate; nothing waits on it for a result). The ledger counts acknowledged messages per device (sequences
// 0 .. n-1); a new Trickle given the same ledger continues it.
import mqtt, { type MqttClient } from 'mqtt';

export interface TrickleOptions {
  /** The payload of message `n` of device `d`; `${d}:${n}` by default. */
  payload?: (d: string, n: number) => string;
  /**
   * Ride out a flaky device link: the client reconnects every `reconnectPeriod` ms and a publish that fails is sent
   * again with the same sequence (counted in `failedPublishes`). Without it a failed publish ends the trickle.
   */
  reconnectPeriod?: number;
}

export class Trickle {
  readonly acked: Map<string, number>;
  /** Publishes that failed and were sent again (only with `reconnectPeriod`). */
  failedPublishes = 0;
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly clients: MqttClient[] = [];
  private readonly o: TrickleOptions;

  constructor(devices: readonly string[] | Map<string, number>, o: TrickleOptions = {}) {
    this.acked = devices instanceof Map ? devices : new Map(devices.map((d) => [d, 0]));
    this.o = o;
  }

  async start(url: string, everyMs: number): Promise<void> {
    const retry = this.o.reconnectPeriod !== undefined;
    for (const d of this.acked.keys()) {
      const c = await mqtt.connectAsync(url, {
        clientId: d,
        clean: true,
        reconnectPeriod: this.o.reconnectPeriod ?? 0,
        ...(retry ? { connectTimeout: 10_000 } : {}),
      });
      this.clients.push(c);
      this.loops.push(this.loop(c, d, everyMs, retry));
    }
  }

  private async loop(c: MqttClient, d: string, everyMs: number, retry: boolean): Promise<void> {
    const payload = this.o.payload ?? ((dev: string, n: number) => `${dev}:${n}`);
    let n = this.acked.get(d) ?? 0;
    while (this.running) {
      try {
        await c.publishAsync(`devices/${d}/telemetry`, payload(d, n), { qos: 1 });
        n++;
        this.acked.set(d, n);
      } catch (err) {
        if (!retry) throw err;
        this.failedPublishes++;
      }
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
