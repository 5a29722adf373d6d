// One simulated device's MQTT connection: MQTT.js with a persistent session by default, reconnects with exponential
// backoff and jitter, and a promise per publish that settles on PUBACK/PUBCOMP.
// With clean:false and the same client id, MQTT.js keeps unacked QoS 1/2 publishes in its outgoing store and sends
// them again after a reconnect [MQTT-4.4.0-1], so a message is counted as acked only when its ack callback runs.
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { DeviceRecorder } from './ledger.ts';

export interface DeviceConnOptions {
  url: string;
  clientId: string;
  clean: boolean;
  username?: string;
  password?: string;
  keepalive?: number;
  /** First reconnect delay in ms; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
}

export class DeviceConn {
  readonly client: MqttClient;
  private readonly recorder: DeviceRecorder | undefined;
  private waiters: (() => void)[] = [];
  private delay: number;
  private closed = false;
  lastError: Error | undefined;

  constructor(opts: DeviceConnOptions, recorder?: DeviceRecorder) {
    this.recorder = recorder;
    this.delay = opts.backoffMs ?? 250;
    const mqttOpts: IClientOptions = {
      clientId: opts.clientId,
      clean: opts.clean,
      protocolVersion: 4,
      keepalive: opts.keepalive ?? 30,
      reconnectPeriod: this.delay,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      // Publishes wait for a connection in our own loop, so MQTT.js need not queue new ones while offline.
      queueQoSZero: false,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    };
    this.client = connect(opts.url, mqttOpts);
    this.client.on('connect', () => {
      this.delay = opts.backoffMs ?? 250;
      this.client.options.reconnectPeriod = this.delay;
      if (this.recorder) this.recorder.connects++;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.client.on('offline', () => {
      if (this.recorder) this.recorder.disconnects++;
    });
    // 'reconnect' fires as an attempt starts; the period set here is the wait before the next one if it fails.
    this.client.on('reconnect', () => {
      const max = opts.maxBackoffMs ?? 5_000;
      this.delay = Math.min(max, this.delay * 2);
      this.client.options.reconnectPeriod = Math.round(this.delay * (0.75 + Math.random() * 0.5));
    });
    this.client.on('error', (err) => {
      this.lastError = err;
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Resolves when the client is connected (at once if it is). */
  whenConnected(): Promise<void> {
    if (this.client.connected || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Settles when the broker acknowledged the message (QoS 1/2) or it was written (QoS 0). */
  publish(topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.publish(topic, payload, { qos }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Closes the connection; `force` skips waiting for in-flight acks. Pending publishes are then rejected. */
  async close(force = false): Promise<void> {
    this.closed = true;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    await new Promise<void>((resolve) => {
      this.client.end(force, {}, () => resolve());
    });
  }
}
