// The gateway's configuration: one schema (type, defaults, validation, env mapping) and its loader.

export { compileKeyTemplate, type KeyTemplate, type KeyTemplateInput } from '../../gateway/config/template.ts';
export { envVarNames, type Setting, settings } from './env.ts';
export { ConfigError, type LoadConfigOptions, loadConfig, resolveConfig } from './load.ts';
export { REDACTED, redactConfig } from './redact.ts';
export {
  type ClassConfig,
  type GatewayConfig,
  GatewayConfigSchema,
  type LogLevel,
  type RouteConfig,
} from './schema.ts';
