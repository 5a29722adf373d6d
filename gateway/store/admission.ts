// Admission of a record into its storage class (promise 5): a record larger than the class budget or than Kafka
// takes is refused, a `reject` class that is full refuses, and a `reject` class with a per-device share refuses a
// device over its share, so one device filling the class cannot stop the other devices' acknowledgements.
import { GatewayError } from '../errors.ts';
import type { StorageClass } from './storage-class.ts';

export type DropReason = 'budget' | 'ttl' | 'rejected' | 'too_large' | 'device_share';

export type DropListener = (cls: string, reason: DropReason, records: number, bytes: number) => void;

export class Admission {
  readonly #maxRecordBytes: number;
  readonly #onDrop: DropListener;
  /** Per `reject` class with a per-device share: bytes each device holds (estimated, see release). */
  readonly #deviceBytes = new Map<StorageClass, Map<string, number>>();

  constructor(maxRecordBytes: number, onDrop: DropListener) {
    this.#maxRecordBytes = maxRecordBytes;
    this.#onDrop = onDrop;
  }

  /** Counts records dropped or refused (through the store's `drop` event). */
  dropped(cls: string, reason: DropReason, records: number, bytes: number): void {
    this.#onDrop(cls, reason, records, bytes);
  }

  /** Checks one more record of `size` bytes from `deviceId`; throws when the class's policy refuses it. */
  admit(cls: StorageClass, size: number, deviceId?: string): void {
    const { maxBytes, policy } = cls.budget;
    const maxRecord = this.#maxRecordBytes;
    if (size > maxBytes || (maxRecord > 0 && size > maxRecord)) {
      this.#onDrop(cls.name, 'too_large', 1, size);
      throw new GatewayError(
        'GW_ERR_TOO_LARGE',
        `record of ${size} bytes exceeds ${size > maxBytes ? `class ${cls.name} budget` : `kafka.maxRecordBytes (${maxRecord})`}`,
      );
    }
    if (policy === 'reject' && cls.usedBytes + size > maxBytes) {
      this.#onDrop(cls.name, 'rejected', 1, size);
      throw new GatewayError('GW_ERR_BUFFER_FULL', `class ${cls.name} is full (${cls.usedBytes} of ${maxBytes} bytes)`);
    }
    const share = cls.budget.perDeviceShare ?? 1;
    if (policy !== 'reject' || share >= 1 || deviceId === undefined) return;
    let held = this.#deviceBytes.get(cls);
    if (!held) {
      held = new Map();
      this.#deviceBytes.set(cls, held);
    }
    const mine = (held.get(deviceId) ?? 0) + size;
    if (mine > share * maxBytes) {
      this.#onDrop(cls.name, 'device_share', 1, size);
      throw new GatewayError(
        'GW_ERR_DEVICE_SHARE',
        `device ${JSON.stringify(deviceId)} holds its share of class ${cls.name} (${Math.round(share * 100)}% of ${maxBytes} bytes)`,
      );
    }
    held.set(deviceId, mine);
  }

  /**
   * The class drains oldest first and its records are not read back to learn their device, so what each device holds
   * shrinks in proportion as the class drains: exact while Kafka is away, an estimate once it drains. Records kept
   * from before a restart count for the class, not for a device.
   */
  release(cls: StorageClass, before: number): void {
    const held = this.#deviceBytes.get(cls);
    if (!held || held.size === 0) return;
    const factor = before > 0 ? Math.max(0, cls.bytes) / before : 0;
    for (const [device, bytes] of held) {
      const left = Math.floor(bytes * factor);
      if (left <= 0) held.delete(device);
      else held.set(device, left);
    }
  }
}
