// The gateway's errors: one list of stable codes, each saying whether trying the same thing again can succeed.
// Every error class of the product extends GatewayError with a code from this list, so callers decide by `canRetry`
// (and, for the Kafka path, by the code) instead of by message text.

/** Every code, with whether a retry of the same operation can help. */
export const ERROR_CODES = {
  /** The configuration is invalid; fixed by the operator, not by retrying. */
  GW_ERR_CONFIG: { retry: false },
  /** A storage class is full under the `reject` policy; space frees as records are forwarded. */
  GW_ERR_BUFFER_FULL: { retry: true },
  /** One device holds more than its share of a `reject` class; space frees as its records are forwarded. */
  GW_ERR_DEVICE_SHARE: { retry: true },
  /** A payload larger than Kafka takes (kafka.maxRecordBytes). */
  GW_ERR_TOO_LARGE: { retry: false },
  /** The store was closed (shutdown or a fatal write error). */
  GW_ERR_STORE_CLOSED: { retry: false },
  /** The store failed to write or read (disk full, I/O error, corruption). */
  GW_ERR_STORE: { retry: false },
  /** A stored record that cannot be decoded. */
  GW_ERR_RECORD_FORMAT: { retry: false },
  /** Kafka unreachable, a timeout, a leader move, a broker that is not ready: retried with backoff. */
  GW_ERR_KAFKA: { retry: true },
  /** The produce request was too large for the broker: retried with a smaller batch. */
  GW_ERR_KAFKA_TOO_LARGE: { retry: true },
  /** Kafka refused the request for good (authentication, authorization, an invalid record or topic). */
  GW_ERR_KAFKA_REFUSED: { retry: false },
  /** Node-RED failed to start or deploy. */
  GW_ERR_FLOWS: { retry: false },
  /** An edge rule's SQL does not parse or compile. */
  GW_ERR_RULE_SQL: { retry: false },
  GW_ERR_MODBUS_PORT: { retry: true },
  GW_ERR_MODBUS_TIMEOUT: { retry: true },
  GW_ERR_MODBUS_CRC: { retry: true },
  GW_ERR_MODBUS_IO: { retry: true },
  /** The device answered with a Modbus exception (illegal address, value…): the same request gets the same answer. */
  GW_ERR_MODBUS_EXCEPTION: { retry: false },
  /** A write request that does not fit the point (type, range, read-only). */
  GW_ERR_WRITE_INVALID: { retry: false },
  GW_ERR_SERIAL_PORT: { retry: true },
  GW_ERR_NMEA_CHECKSUM: { retry: false },
  GW_ERR_NMEA_FORMAT: { retry: false },
} as const satisfies Record<string, { retry: boolean }>;

export type GatewayErrorCode = keyof typeof ERROR_CODES;

export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly code: GatewayErrorCode;
  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** Whether trying the same operation again can succeed (see ERROR_CODES). */
  get canRetry(): boolean {
    return ERROR_CODES[this.code].retry;
  }
}

/** The code of any error: a GatewayError's own, else undefined. */
export function errorCode(err: unknown): GatewayErrorCode | undefined {
  return err instanceof GatewayError ? err.code : undefined;
}
