// The gateway's configuration: one schema (type, defaults, validation, env mapping) and its loader.

export { envVarNames } from './env.ts';
export { ConfigError, loadConfig, resolveConfig } from './load.ts';
export { REDACTED, redactConfig } from './redact.ts';
export { type GatewayConfig, GatewayConfigSchema } from './schema.ts';
