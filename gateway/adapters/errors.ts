// The adapters' errors (codes from the gateway's one list, gateway/errors.ts) and their labels in metrics.
import { GatewayError } from '../errors.ts';

export type AdapterErrorCode =
  | 'GW_ERR_CONFIG'
  | 'GW_ERR_MODBUS_PORT'
  | 'GW_ERR_MODBUS_TIMEOUT'
  | 'GW_ERR_MODBUS_CRC'
  | 'GW_ERR_MODBUS_EXCEPTION'
  | 'GW_ERR_MODBUS_IO'
  | 'GW_ERR_WRITE_INVALID'
  | 'GW_ERR_SERIAL_PORT';

export class AdapterError extends GatewayError {
  override name = 'AdapterError';
  declare readonly code: AdapterErrorCode;
  /** Modbus exception code (1 illegal function, 2 illegal data address, 3 illegal data value, 4 device failure…). */
  readonly exception: number | undefined;
  constructor(code: AdapterErrorCode, message: string, opts: { cause?: unknown; exception?: number } = {}) {
    super(code, message, { cause: opts.cause });
    this.exception = opts.exception;
  }
}

/** Short label of an error code for metrics: timeout, crc, exception, port, io, invalid, config. */
export function reasonOf(code: AdapterErrorCode): string {
  switch (code) {
    case 'GW_ERR_MODBUS_TIMEOUT':
      return 'timeout';
    case 'GW_ERR_MODBUS_CRC':
      return 'crc';
    case 'GW_ERR_MODBUS_EXCEPTION':
      return 'exception';
    case 'GW_ERR_MODBUS_PORT':
    case 'GW_ERR_SERIAL_PORT':
      return 'port';
    case 'GW_ERR_WRITE_INVALID':
      return 'invalid';
    case 'GW_ERR_CONFIG':
      return 'config';
    default:
      return 'io';
  }
}
