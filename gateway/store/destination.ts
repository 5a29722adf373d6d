// Where a record goes: a storage class, a Kafka topic and key, and the record format. The length-prefixed string
// section of a record (Kafka topic, key, MQTT topic, client id, username) is constant per destination, client and
// topic, so a destination caches it: most devices publish to a few topics.
import { encodeStrings } from './codec.ts';
import type { OutboxMessage } from './message.ts';
import type { StorageClass } from './storage-class.ts';

const MAX_CACHED_CLIENTS = 20_000;
const MAX_CACHED_TOPICS = 64;

export interface DestinationSpec {
  /** Storage class name (config `classes.<name>`). */
  class: string;
  kafkaTopic: string;
  /** The Kafka key; with `cache`, it may depend only on the client id, username and MQTT topic. */
  key: (msg: OutboxMessage) => string;
  envelope: boolean;
  /** Cache the string section per client and topic (routes); off for one-off destinations. */
  cache?: boolean;
}

export class Destination {
  readonly cls: StorageClass;
  readonly kafkaTopic: string;
  readonly envelope: boolean;
  readonly #key: (msg: OutboxMessage) => string;
  /** Encoded string sections by client id, then MQTT topic. */
  readonly #strings: Map<string, Map<string, { username: string; buf: Buffer }>> | undefined;

  constructor(cls: StorageClass, spec: DestinationSpec) {
    this.cls = cls;
    this.kafkaTopic = spec.kafkaTopic;
    this.envelope = spec.envelope;
    this.#key = spec.key;
    this.#strings = spec.cache ? new Map() : undefined;
  }

  /** The record's string section for `msg`. */
  strings(msg: OutboxMessage): Buffer {
    const username = msg.username ?? '';
    const cache = this.#strings;
    if (!cache) return encodeStrings(this.kafkaTopic, this.#key(msg), msg.topic, msg.clientId, username);
    let byTopic = cache.get(msg.clientId);
    if (!byTopic) {
      if (cache.size >= MAX_CACHED_CLIENTS) cache.clear();
      byTopic = new Map();
      cache.set(msg.clientId, byTopic);
    }
    const hit = byTopic.get(msg.topic);
    if (hit && hit.username === username) return hit.buf;
    if (byTopic.size >= MAX_CACHED_TOPICS) byTopic.clear();
    const buf = encodeStrings(this.kafkaTopic, this.#key(msg), msg.topic, msg.clientId, username);
    byTopic.set(msg.topic, { username, buf });
    return buf;
  }
}
