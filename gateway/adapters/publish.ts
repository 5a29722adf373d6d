// How an adapter device puts a value or a status on the gateway's durable path: JSON, client id = device name.
import type { GatewayBus } from '../bus.ts';

export function publishJson(
  bus: GatewayBus,
  device: { name: string; qos: 0 | 1 | 2 },
  topic: string,
  body: unknown,
  retain: boolean,
): Promise<void> {
  return bus.publish({
    topic,
    payload: Buffer.from(JSON.stringify(body)),
    qos: device.qos,
    clientId: device.name,
    retain,
  });
}
