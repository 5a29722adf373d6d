// A Kafka of a test's own that a gateway reaches only through a relay (Toxiproxy or tcp-proxy.ts): its second
// listener advertises the relay's port, so every connection the gateway's client opens — bootstrap and the ones
// metadata names — goes through the relay (the global test Kafka advertises its own address, so a client would leave
// the relay after its first metadata answer). kcat and other checks read through the direct listener.
import { freePort, LocalKafka } from './kafka.ts';

export interface RelayedKafka {
  kafka: LocalKafka;
  /** Where the relay must forward to: the listener that advertises the relay. */
  relayedPort: number;
  /** Where the relay must listen, and what the gateway is given as its broker. */
  proxyPort: number;
}

export async function startRelayedKafka(): Promise<RelayedKafka> {
  const proxyPort = await freePort();
  const port = await freePort();
  const relayedPort = await freePort();
  const kafka = await LocalKafka.start({
    port,
    extraListeners: [{ name: 'RELAYED', protocol: 'PLAINTEXT', port: relayedPort }],
    brokerProps: {
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${port},RELAYED://127.0.0.1:${proxyPort}`,
    },
  });
  return { kafka, relayedPort, proxyPort };
}
