// Errors with stable codes: each carries a code and a cause.

export type GatewayErrorCode =
  | 'GW_ERR_CONFIG'
  | 'GW_ERR_BUFFER_FULL'
  | 'GW_ERR_TOO_LARGE'
  | 'GW_ERR_DEVICE_SHARE'
  | 'GW_ERR_STORE_CLOSED'
  | 'GW_ERR_STORE'
  | 'GW_ERR_KAFKA';

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'GatewayError';
  }
}
