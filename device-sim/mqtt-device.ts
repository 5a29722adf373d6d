// One simulated device's MQTT connection: MQTT.js with a persistent session by default, reconnects with exponential
// backoff and jitter, and a promise per publish that settles on PUBACK/PUBCOMP.
// With clean:false and the same client id, MQTT.js keeps unacked QoS 1/2 publishes in its outgoing store and sends
// them again after a reconnect [MQTT-4.4.0-1], so a message is counted as acked only when its ack callback runs.
// Reconnects are scheduled here rather than by MQTT.js (its reconnect timer is a fixed-period interval), reusing the
// same stores so in-flight messages survive.
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
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private waiters: (() => void)[] = [];
  private delay: number;
  private closed = false;
  private wasConnected = false;
  private timer: NodeJS.Timeout | undefined;
  private offlineUntil = 0;
  lastError: Error | undefined;
  /** Publishes waiting to be sent again after a reconnect; new ones should wait for them to keep the order. */
  retrying = 0;
  retries = 0;

  constructor(opts: DeviceConnOptions, recorder?: DeviceRecorder) {
    this.recorder = recorder;
    this.baseDelay = opts.backoffMs ?? 250;
    this.maxDelay = opts.maxBackoffMs ?? 5_000;
    this.delay = this.baseDelay;
    const mqttOpts: IClientOptions = {
      clientId: opts.clientId,
      clean: opts.clean,
      protocolVersion: 4,
      keepalive: opts.keepalive ?? 30,
      reconnectPeriod: 0,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      // Publishes wait for a connection in our own loop, so MQTT.js need not queue new ones while offline.
      queueQoSZero: false,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    };
    this.client = connect(opts.url, mqttOpts);
    this.client.on('connect', () => {
      this.delay = this.baseDelay;
      this.wasConnected = true;
      if (this.recorder) this.recorder.connects++;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.client.on('close', () => {
      if (this.closed) return;
      if (this.wasConnected && this.recorder) this.recorder.disconnects++;
      this.wasConnected = false;
      const offline = this.offlineUntil - Date.now();
      if (offline > 0) {
        this.schedule(offline);
      } else {
        this.schedule(this.delay * (0.75 + Math.random() * 0.5));
        this.delay = Math.min(this.maxDelay, this.delay * 2);
      }
    });
    this.client.on('error', (err) => {
      this.lastError = err;
    });
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.closed || this.client.connected) return;
        // The same stores: unacked messages are sent again on the new connection.
        this.client.reconnect({ incomingStore: this.client.incomingStore, outgoingStore: this.client.outgoingStore });
      },
      Math.max(0, Math.round(ms)),
    );
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Resolves when the client is connected (at once if it is, or when it was closed). */
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

  /**
   * Publishes until acknowledged; resolves true when acked (QoS 1/2) or written (QoS 0), false when the connection
   * was closed by close() first. MQTT.js fails a publish with "Connection closed" only when it never reached its
   * outgoing store (it was queued behind the resend of stored messages after a reconnect), so sending it again after
   * the next connect can neither lose nor reorder anything.
   */
  async sendAcked(topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<boolean> {
    for (;;) {
      try {
        await this.publish(topic, payload, qos);
        return true;
      } catch {
        if (this.closed) return false;
        this.retries++;
        this.retrying++;
        await this.whenConnected();
        this.retrying--;
      }
    }
  }

  /** Drops the link without DISCONNECT (a network loss as the broker sees it) and stays away for `ms`. */
  goOffline(ms: number): void {
    this.offlineUntil = Date.now() + ms;
    if (this.client.connected) this.client.stream.destroy();
    else if (this.timer) this.schedule(ms);
  }

  /** Ends an offline period early: reconnects now. */
  wake(): void {
    this.offlineUntil = 0;
    if (!this.client.connected && this.timer) this.schedule(0);
  }

  /** Closes the connection; `force` skips waiting for in-flight acks. Pending publishes are then rejected. */
  async close(force = false): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    await new Promise<void>((resolve) => {
      this.client.end(force, {}, () => resolve());
    });
  }
}
