// Packet size limits on the MQTT fixed header, before the body is buffered: the parser (mqtt-packet) keeps every byte
// of a packet until it is complete, so a 256 MB length claim would otherwise make the gateway buffer 256 MB from a
// socket that never authenticated. The scanner walks packet boundaries across chunks with a few numbers of state.

/** Why a stream was refused: the limit's label in gateway_limit_refusals_total. */
export type PacketRefusal = 'packet_before_connect' | 'packet_size' | 'malformed_length';

export interface PacketLimits {
  /** Most bytes before CONNECT is accepted, in one packet or several. */
  beforeConnect: number;
  /** Largest packet (fixed header included) once connected. */
  afterConnect: number;
}

const FIRST_BYTE = 0;
const LENGTH = 1;
const BODY = 2;

export class PacketScanner {
  private readonly limits: PacketLimits;
  private state = FIRST_BYTE;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;
  private connected = false;
  private bytesBeforeConnect = 0;
  /** The size the refused packet claimed (for the log), 0 when none was refused. */
  claimed = 0;

  constructor(limits: PacketLimits) {
    this.limits = limits;
  }

  /** The client's CONNECT was accepted: from now on packets are held to the larger limit. */
  connect(): void {
    this.connected = true;
  }

  /** Scans the next chunk of the stream; returns why it must be refused, or undefined. */
  scan(chunk: Uint8Array): PacketRefusal | undefined {
    if (!this.connected) {
      this.bytesBeforeConnect += chunk.length;
      // [MQTT-3.1.4-5] lets a client send packets right after CONNECT; until the CONNECT is accepted they are queued
      // in memory, so they count against the same small budget.
      if (this.bytesBeforeConnect > this.limits.beforeConnect) {
        this.claimed = this.bytesBeforeConnect;
        return 'packet_before_connect';
      }
    }
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === BODY) {
        const take = Math.min(this.bodyLeft, n - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.state = FIRST_BYTE;
      } else if (this.state === FIRST_BYTE) {
        i++;
        this.state = LENGTH;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const b = chunk[i++] as number;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (b & 0x80) {
          // [MQTT-2.2.3]: the remaining length takes at most four bytes.
          if (this.lengthBytes === 4) return 'malformed_length';
          continue;
        }
        const size = 1 + this.lengthBytes + this.length;
        if (size > (this.connected ? this.limits.afterConnect : this.limits.beforeConnect)) {
          this.claimed = size;
          return this.connected ? 'packet_size' : 'packet_before_connect';
        }
        this.bodyLeft = this.length;
        this.state = this.length > 0 ? BODY : FIRST_BYTE;
      }
    }
    return undefined;
  }
}
