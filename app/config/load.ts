// Loads the config: YAML file (from `--config <path>` or GATEWAY_CONFIG; none at all is fine), then GATEWAY_* env
// overrides (env wins), then defaults, then validation of everything at once, then a deep freeze.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { checkAdaptersConfig } from '../../gateway/adapters/check.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { ENV_PREFIX, ENV_RESERVED, parseEnvValue, settings } from './env.ts';
import { ClassSchema, type GatewayConfig, GatewayConfigSchema } from './schema.ts';
import { closest, type Problem, schemaProblems, semanticProblems } from './validate.ts';

export class ConfigError extends GatewayError {
  override name = 'ConfigError';
  /** One line per problem, each naming the key (or env var, or file) it is about. */
  readonly problems: string[];

  constructor(problems: string[], options?: ErrorOptions) {
    const n = problems.length;
    super(
      'GW_ERR_CONFIG',
      `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
      options,
    );
    this.problems = problems;
  }
}

export interface LoadConfigOptions {
  /** Command-line arguments (without node and the script); `--config <path>` or `--config=<path>` is read. */
  argv?: string[];
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Base of a relative config path; defaults to `process.cwd()`. */
  cwd?: string;
}

/** The config file path from the arguments, then GATEWAY_CONFIG; undefined when neither names one. */
export function configPathFrom(argv: string[], env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) problems.push('--config: needs a file path');
      return next;
    }
    if (arg.startsWith('--config=')) {
      const value = arg.slice('--config='.length);
      if (value === '') problems.push('--config: needs a file path');
      return value || undefined;
    }
  }
  return env.GATEWAY_CONFIG || undefined;
}

const YAML_CODES: Record<string, string> = {
  BAD_INDENT: 'bad indentation',
  DUPLICATE_KEY: 'duplicate key',
  MISSING_CHAR: 'missing character',
  TAB_AS_INDENT: 'tab used for indentation',
};

/** The YAML parser, loaded (synchronously) only when a config file is read. */
const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** Reads and parses the file; problems name the file and, for YAML errors, the line. */
function readFile(path: string, problems: string[]): unknown {
  const where = `config file ${path}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(code === 'ENOENT' ? `${where}: not found` : `${where}: cannot read (${code ?? String(err)})`);
    return undefined;
  }
  const doc = yaml().parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const detail = e.message.replace(/ at line \d+, column \d+[\s\S]*$/, '');
      const what = YAML_CODES[e.code] ? `${YAML_CODES[e.code]} (${lowerFirst(detail)})` : lowerFirst(detail);
      return pos ? `${where}: line ${pos.line}: ${what} (column ${pos.col})` : `${where}: ${what}`;
    });
    problems.push(...new Set(lines));
    return undefined;
  }
  const value = dropNulls(doc.toJS());
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${where}: the top level must be a mapping of keys to values`);
    return undefined;
  }
  return value;
}

/** A key left empty in YAML (`routes:` with its items commented out) reads as null; no setting is nullable, so it
 * takes its default instead. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isObj(value)) return value;
  for (const [k, v] of Object.entries(value)) {
    if (v === null) delete value[k];
    else value[k] = dropNulls(v);
  }
  return value;
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sets a value at a path, creating missing sections. A non-mapping in the way is left for validation to report. */
function setPath(root: Record<string, unknown>, segments: string[], value: unknown): void {
  let node = root;
  for (const seg of segments.slice(0, -1)) {
    const next = node[seg] ?? {};
    if (!isObj(next)) return;
    node[seg] = next;
    node = next;
  }
  node[segments.at(-1)!] = value;
}

/** Applies GATEWAY_* env vars onto the raw config. Returns env var by config path, to name them in problems. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[]): Map<string, string> {
  const all = settings();
  const byEnv = new Map(all.map((s) => [s.env, s]));
  const sources = new Map<string, string>();
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || ENV_RESERVED.has(name) || text === undefined) continue;
    const setting = byEnv.get(name);
    if (!setting) {
      const hint = closest(
        name,
        all.map((s) => s.env),
      );
      problems.push(`${name}: unknown setting${hint ? ` (did you mean ${hint}?)` : ''}; see docs/configuration.md`);
      continue;
    }
    const parsed = parseEnvValue(setting, text);
    if (!parsed.ok) {
      problems.push(`${name}: ${parsed.why} (${setting.path})`);
      continue;
    }
    setPath(raw, setting.segments, parsed.value);
    sources.set(setting.path, name);
  }
  return sources;
}

function formatProblem(p: Problem, sources: Map<string, string>): string {
  let from: string | undefined;
  for (const [path, name] of sources) {
    if (p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`)) from = name;
  }
  const line = p.path === '' ? p.message : `${p.path}: ${p.message}`;
  return from ? `${line} (from ${from})` : line;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Applies defaults and validates a raw config object (as parsed from YAML); throws ConfigError with every problem. */
export function resolveConfig(
  raw: unknown,
  sources = new Map<string, string>(),
  earlier: string[] = [],
): GatewayConfig {
  const value = Value.Default(GatewayConfigSchema, structuredClone(raw ?? {})) as Record<string, unknown>;
  // A class named `default` always exists: routes fall back to it.
  if (isObj(value.classes) && !Object.hasOwn(value.classes, 'default')) {
    value.classes.default = Value.Default(ClassSchema, {});
  }
  const problems = [...earlier];
  const schema = schemaProblems(value);
  // The adapters' own cross-field checks (duplicate device names, one line setting per RTU path, `scale: 0`...) run
  // next to the schema's: they skip only the values the schema already reported, so every problem shows at once.
  const adapters = checkAdaptersConfig(value.adapters);
  for (const p of [...schema, ...semanticProblems(value), ...adapters]) problems.push(formatProblem(p, sources));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(value as GatewayConfig);
}

/**
 * Loads the gateway config. With no file and no env vars, every setting takes its default: a working gateway.
 * Throws ConfigError listing every problem found (file, env vars, schema, cross-field checks) at once.
 */
export function loadConfig(opts: LoadConfigOptions = {}): GatewayConfig {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const path = configPathFrom(opts.argv ?? [], env, problems);
  let raw: unknown = {};
  if (path) raw = readFile(resolve(opts.cwd ?? process.cwd(), path), problems);
  const fileBroken = raw === undefined;
  const base = isObj(raw) ? raw : {};
  const sources = applyEnv(base, env, problems);
  // A file that did not parse would only add noise: report it with the env problems and stop.
  if (fileBroken) throw new ConfigError(problems);
  return resolveConfig(base, sources, problems);
}
