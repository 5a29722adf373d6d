// Option parsing shared by the subcommands: one typed table per command gives each option's type, default and help
// line, so `--help`, the validation and the type of the parsed options never disagree.
import { parseArgs } from 'node:util';

export type OptionKind = 'string' | 'int' | 'number' | 'boolean' | 'list';

export interface OptionSpec {
  kind: OptionKind;
  help: string;
  default?: string | number | boolean | readonly string[];
  short?: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  required?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** The value an option's spec gives: numbers for int/number, the choices' union for a string or list with choices. */
type ValueOf<O extends OptionSpec> = O['kind'] extends 'boolean'
  ? boolean
  : O['kind'] extends 'int' | 'number'
    ? number
    : O extends { choices: readonly (infer C extends string)[] }
      ? O['kind'] extends 'list'
        ? C[]
        : C
      : O['kind'] extends 'list'
        ? string[]
        : string;

/** Booleans, options with a default and required options always have a value; the others may be undefined. */
type Always<O extends OptionSpec> = O extends { kind: 'boolean' }
  ? true
  : O extends { default: unknown }
    ? true
    : O extends { required: true }
      ? true
      : false;

/** The parsed options of a command, typed from its option table. */
export type Options<S extends OptionSpecs> = {
  [K in keyof S]: Always<S[K]> extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

/** What parseOptions returns for `-h`/`--help`. */
export const HELP: unique symbol = Symbol('help');

/** A bad command line: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'SIM_ERR_USAGE';
}

export interface CommandInfo<S extends OptionSpecs = OptionSpecs> {
  name: string;
  summary: string;
  usage: string;
  options: S;
  examples?: readonly string[];
}

/** A command's description and option table, with the literal types kept (choices, required) for Options<S>. */
export function commandInfo<const S extends OptionSpecs>(info: CommandInfo<S>): CommandInfo<S> {
  return info;
}

/** A command ready for the CLI: `parse` checks the argv (throwing UsageError) and returns the run, or HELP. */
export interface Command {
  info: CommandInfo;
  parse: (argv: string[]) => (() => Promise<number>) | typeof HELP;
}

/** Ties a command's option table to its main, which gets the options typed from that table. */
export function defineCommand<const S extends OptionSpecs>(
  info: CommandInfo<S>,
  main: (o: Options<S>) => Promise<number>,
): Command {
  return {
    info,
    parse: (argv) => {
      const o = parseOptions(argv, info.options);
      return o === HELP ? HELP : () => main(o);
    },
  };
}

export function helpText(cmd: CommandInfo): string {
  const lines = [`device-sim ${cmd.name} — ${cmd.summary}`, '', `usage: ${cmd.usage}`, '', 'options:'];
  const rows = Object.entries(cmd.options).map(([name, spec]) => {
    const value = spec.kind === 'boolean' ? '' : ` <${spec.kind === 'list' ? 'a,b' : spec.kind}>`;
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${value}`;
    const extra: string[] = [];
    if (spec.choices) extra.push(`one of ${spec.choices.join('|')}`);
    if (spec.default !== undefined && spec.default !== false) extra.push(`default ${String(spec.default)}`);
    if (spec.required) extra.push('required');
    return [flag, `${spec.help}${extra.length ? ` (${extra.join('; ')})` : ''}`] as const;
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`);
  if (cmd.examples?.length) lines.push('', 'examples:', ...cmd.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

type RawValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

function readArgv(argv: string[], specs: OptionSpecs): { values: RawValues; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) {
    config[name] = {
      type: spec.kind === 'boolean' ? 'boolean' : 'string',
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  try {
    return parseArgs({ args: argv, options: config, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(
      String(err instanceof Error ? err.message : err).replace(/\. To specify a positional.*$/s, ''),
    );
  }
}

/** Parses argv against the option table; every problem is collected and thrown as one UsageError. */
export function parseOptions<const S extends OptionSpecs>(argv: string[], specs: S): Options<S> | typeof HELP {
  const { values, positionals } = readArgv(argv, specs);
  if (values.help) return HELP;
  const problems: string[] = [];
  if (positionals.length) problems.push(`unexpected argument: ${positionals.join(' ')}`);
  const out: Record<string, string | number | boolean | readonly string[] | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (raw === undefined || Array.isArray(raw)) {
      if (spec.required) problems.push(`--${name} is required`);
      out[name] = spec.kind === 'boolean' ? (spec.default ?? false) : spec.default;
      continue;
    }
    const r = convert(name, spec, raw);
    if (typeof r === 'object' && r !== null && 'problem' in r) problems.push(r.problem);
    else out[name] = r;
  }
  if (problems.length) throw new UsageError(problems.join('\n'));
  // Every key of the table was converted to the type its spec gives: the shape Options<S> describes.
  return out as Options<S>;
}

function convertList(name: string, spec: OptionSpec, text: string): string[] | { problem: string } {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!items.length) return { problem: `--${name}: expected a comma-separated list` };
  const bad = spec.choices ? items.filter((i) => !spec.choices?.includes(i)) : [];
  if (bad.length) return { problem: `--${name}: ${bad.join(',')} is not one of ${spec.choices?.join('|')}` };
  return items;
}

function convertNumber(name: string, spec: OptionSpec, text: string): number | { problem: string } {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) return { problem: `--${name}: "${text}" is not a number` };
  if (spec.kind === 'int' && !Number.isInteger(n)) return { problem: `--${name}: "${text}" is not an integer` };
  if (spec.min !== undefined && n < spec.min) return { problem: `--${name}: ${n} is below the minimum ${spec.min}` };
  if (spec.max !== undefined && n > spec.max) return { problem: `--${name}: ${n} is above the maximum ${spec.max}` };
  return n;
}

function convert(
  name: string,
  spec: OptionSpec,
  raw: string | boolean,
): string | number | boolean | string[] | { problem: string } {
  if (spec.kind === 'boolean') return raw === true;
  const text = String(raw);
  if (spec.kind === 'list') return convertList(name, spec, text);
  if (spec.kind === 'string') {
    if (spec.choices && !spec.choices.includes(text)) {
      return { problem: `--${name}: "${text}" is not one of ${spec.choices.join('|')}` };
    }
    return text;
  }
  return convertNumber(name, spec, text);
}

/** An MQTT QoS from an option already checked to be an integer 0–2. */
export function qosOf(n: number): 0 | 1 | 2 {
  if (n === 0 || n === 1 || n === 2) return n;
  throw new UsageError(`--qos: ${n} is not 0, 1 or 2`);
}
