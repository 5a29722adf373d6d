// A stored outbox record as the sink sends it: key, value (raw payload or the JSON envelope) and the headers of the
// configured profile (kafka.headers). Runs once per record on the send path, so what is the same for every record
// (header names, the gateway id, the msg id prefix, the QoS digits) is encoded once, and strings that repeat per
// device (key, MQTT topic, client id) are encoded once per distinct value.
import type { StoredRecord } from '../gateway/store/codec.ts';
import { HEADER } from './record.ts';
import type { SinkRecord } from './sinks/types.ts';

/** `full`: the 8 headers of HEADER; `compact`: gateway.msg_id and mqtt.topic; `none`: no headers. */
export type HeaderProfile = 'full' | 'compact' | 'none';

/** Distinct strings kept encoded; past this the cache starts over (a fleet larger than this only encodes more). */
const CACHE_MAX = 8192;

class Utf8Cache {
  private readonly m = new Map<string, Buffer>();
  get(s: string): Buffer {
    let b = this.m.get(s);
    if (b === undefined) {
      if (this.m.size >= CACHE_MAX) this.m.clear();
      b = Buffer.from(s);
      this.m.set(s, b);
    }
    return b;
  }
}

export class SinkRecordBuilder {
  private readonly profile: HeaderProfile;
  private readonly gatewayId: string;
  private readonly gatewayIdBuf: Buffer;
  private readonly qosBufs = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')];
  /** `<gatewayId>-<epoch>-`, encoded. */
  private readonly prefix: Buffer;
  private readonly keys = new Utf8Cache();
  private readonly topics = new Utf8Cache();
  private readonly clients = new Utf8Cache();

  constructor(opts: { profile: HeaderProfile; gatewayId: string; msgIdPrefix: string }) {
    this.profile = opts.profile;
    this.gatewayId = opts.gatewayId;
    this.gatewayIdBuf = Buffer.from(opts.gatewayId);
    this.prefix = Buffer.from(opts.msgIdPrefix);
  }

  build(r: StoredRecord): SinkRecord {
    return { topic: r.kafkaTopic, key: this.keys.get(r.key), value: this.value(r), headers: this.headers(r) };
  }

  /** The headers of the profile; gateway.seq is a view of gateway.msg_id's tail (one buffer for both). */
  headers(r: StoredRecord): Record<string, Buffer> {
    if (this.profile === 'none') return {};
    const msgId = this.msgId(r.seq);
    if (this.profile === 'compact') return { [HEADER.msgId]: msgId, [HEADER.topic]: this.topics.get(r.mqttTopic) };
    return {
      [HEADER.topic]: this.topics.get(r.mqttTopic),
      [HEADER.clientId]: this.clients.get(r.clientId),
      [HEADER.qos]: this.qosBufs[r.qos] ?? Buffer.from(String(r.qos)),
      [HEADER.gatewayId]: this.gatewayIdBuf,
      [HEADER.gatewaySeq]: msgId.subarray(this.prefix.length),
      [HEADER.msgId]: msgId,
      [HEADER.deviceSeq]: ascii(String(r.deviceSeq)),
      [HEADER.ingestTs]: ascii(String(r.ingestTs)),
    };
  }

  private msgId(seq: number): Buffer {
    const digits = String(seq);
    const b = Buffer.allocUnsafe(this.prefix.length + digits.length);
    this.prefix.copy(b, 0);
    b.write(digits, this.prefix.length, 'latin1');
    return b;
  }

  private value(r: StoredRecord): Buffer {
    if (!r.envelope) return r.payload;
    return Buffer.from(
      JSON.stringify({
        client_id: r.clientId,
        username: r.username || null,
        topic: r.mqttTopic,
        payload: r.payload.toString('base64'),
        qos: r.qos,
        node: this.gatewayId,
        ts: r.ingestTs,
      }),
    );
  }
}

/** Digits of a number as bytes (no UTF-8 pass: they are ASCII). */
function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
