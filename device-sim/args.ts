// Option parsing shared by the subcommands: one spec per option gives the type, the default and the help line,
// so `--help` and the validation never disagree.
import { parseArgs } from 'node:util';

export type OptionKind = 'string' | 'int' | 'number' | 'boolean' | 'list';

export interface OptionSpec {
  kind: OptionKind;
  help: string;
  default?: string | number | boolean | string[];
  short?: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  required?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;
export type ParsedOptions = Record<string, string | number | boolean | string[] | undefined>;

/** A bad command line: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'SIM_ERR_USAGE';
}

export interface CommandInfo {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpecs;
  examples?: string[];
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

/** Parses argv against the specs; every problem is collected and thrown as one UsageError. */
export function parseOptions(argv: string[], specs: OptionSpecs): ParsedOptions & { help?: boolean } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) {
    config[name] = {
      type: spec.kind === 'boolean' ? 'boolean' : 'string',
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: config, strict: true, allowPositionals: true }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  if (values.help) return { help: true };
  const problems: string[] = [];
  if (positionals.length) problems.push(`unexpected argument: ${positionals.join(' ')}`);
  const out: ParsedOptions = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (raw === undefined) {
      if (spec.required) problems.push(`--${name} is required`);
      out[name] = spec.default;
      continue;
    }
    const r = convert(name, spec, raw as string | boolean);
    if (typeof r === 'object' && r !== null && 'problem' in r) problems.push(r.problem);
    else out[name] = r;
  }
  if (problems.length) throw new UsageError(problems.join('\n'));
  return out;
}

function convert(
  name: string,
  spec: OptionSpec,
  raw: string | boolean,
): string | number | boolean | string[] | { problem: string } {
  if (spec.kind === 'boolean') return raw === true;
  const text = String(raw);
  if (spec.kind === 'list') {
    const items = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!items.length) return { problem: `--${name}: expected a comma-separated list` };
    const bad = spec.choices ? items.filter((i) => !spec.choices?.includes(i)) : [];
    if (bad.length) return { problem: `--${name}: ${bad.join(',')} is not one of ${spec.choices?.join('|')}` };
    return items;
  }
  if (spec.kind === 'string') {
    if (spec.choices && !spec.choices.includes(text)) {
      return { problem: `--${name}: "${text}" is not one of ${spec.choices.join('|')}` };
    }
    return text;
  }
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) return { problem: `--${name}: "${text}" is not a number` };
  if (spec.kind === 'int' && !Number.isInteger(n)) return { problem: `--${name}: "${text}" is not an integer` };
  if (spec.min !== undefined && n < spec.min) return { problem: `--${name}: ${n} is below the minimum ${spec.min}` };
  if (spec.max !== undefined && n > spec.max) return { problem: `--${name}: ${n} is above the maximum ${spec.max}` };
  return n;
}
