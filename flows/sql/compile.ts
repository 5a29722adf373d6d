// The `edge rule` node's SQL, in the style of the EMQX / ApsaraMQ rule engines:
//   SELECT payload.temp AS t, clientid FROM "devices/+/state" WHERE payload.temp > 100 AND payload.unit = 'C'
// Parsed once by node-sql-parser (PostgreSQL dialect: a double-quoted FROM is an MQTT topic filter) and compiled
// into a tree of closures, so a message costs no parsing. Missing fields are SQL NULL: comparisons with NULL are
// NULL (not true), so a WHERE over a missing field filters the message out instead of throwing.
// Only the PostgreSQL build: the package's main entry loads every dialect (the image keeps this one, see Dockerfile).
import sqlParser from 'node-sql-parser/build/postgresql.js';
import { GatewayError } from '../../gateway/errors.ts';
import { compileFilter, topicFilterProblem } from '../../gateway/topic.ts';
import { FUNCTIONS, isNull } from './functions.ts';
import { and, arithmetic, compare, equal, likeRegex, not, or } from './ops.ts';

const parser = new sqlParser.Parser();
const DIALECT = { database: 'postgresql' } as const;

/** Stable error code of a rule that does not compile; `message` says where. */
export class RuleSqlError extends GatewayError {
  override name = 'RuleSqlError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('GW_ERR_RULE_SQL', message, options);
  }
}

/** What a rule sees of a message: topic, payload, clientid, username, qos, deviceSeq, timestamp (ingest, ms). */
export type RuleRow = Record<string, unknown>;

export interface CompiledRule {
  /** Topic filters of the FROM clause. */
  readonly from: readonly string[];
  /** The SELECT result, or null when the topic is not in FROM or WHERE is not true. */
  run(row: RuleRow, now?: number): Record<string, unknown> | null;
}

type Eval = (row: RuleRow, now: number) => unknown;
type Ast = Record<string, unknown>;

const isAst = (v: unknown): v is Ast => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (message: string): never => {
  throw new RuleSqlError(message);
};

export function compileRule(sql: string): CompiledRule {
  let parsed: unknown;
  try {
    parsed = parser.astify(sql, DIALECT);
  } catch (cause) {
    throw new RuleSqlError(`SQL syntax: ${(cause as Error).message.split('\n')[0]}`, { cause });
  }
  if (Array.isArray(parsed)) {
    if (parsed.length !== 1) fail('exactly one SELECT statement expected');
    parsed = parsed[0];
  }
  if (!isAst(parsed) || parsed['type'] !== 'select') fail('only SELECT is supported');
  const ast = parsed as Ast;
  for (const clause of ['groupby', 'having', 'orderby', 'with'] as const) {
    if (ast[clause]) fail(`${clause.toUpperCase()} is not supported in a rule`);
  }
  const limit = ast['limit'];
  if (isAst(limit) && Array.isArray(limit['value']) && limit['value'].length > 0) fail('LIMIT is not supported');

  const from = compileFrom(ast['from']);
  const matchers = from.map(compileFilter);
  const where = ast['where'] ? compileExpr(ast['where']) : null;
  const project = compileColumns(ast['columns']);
  return {
    from,
    run(row, now = Date.now()) {
      const topic = row['topic'];
      if (typeof topic !== 'string' || !matchers.some((m) => m(topic))) return null;
      if (where && where(row, now) !== true) return null;
      return project(row, now);
    },
  };
}

function compileFrom(fromList: unknown): string[] {
  if (!Array.isArray(fromList) || fromList.length === 0) return fail('FROM "<topic filter>" is required');
  return fromList.map((item) => {
    if (!isAst(item) || typeof item['table'] !== 'string' || item['join'] || item['expr']) {
      return fail('FROM takes quoted topic filters only, e.g. FROM "devices/+/state"');
    }
    const filter = item['db'] ? `${item['db']}.${item['table']}` : item['table'];
    if (topicFilterProblem(filter) !== undefined) fail(`invalid MQTT topic filter in FROM: "${filter}"`);
    return filter;
  });
}

function compileColumns(columns: unknown): (row: RuleRow, now: number) => Record<string, unknown> {
  if (!Array.isArray(columns) || columns.length === 0) return fail('SELECT needs at least one column');
  const parts: Array<{ star: true } | { path: string[]; ev: Eval }> = columns.map((col: unknown) => {
    if (!isAst(col)) return fail('bad column');
    const expr = col['expr'];
    if (isAst(expr) && expr['type'] === 'column_ref' && expr['column'] === '*') {
      if (expr['table']) fail('only a bare * is supported');
      return { star: true } as const;
    }
    const alias = typeof col['as'] === 'string' ? col['as'] : null;
    const ev = compileExpr(expr);
    // Without an alias a field keeps its path (`payload.temp` → {payload: {temp}}), as in EMQX.
    const path = alias ? [alias] : isAst(expr) && expr['type'] === 'column_ref' ? columnPath(expr) : [exprText(expr)];
    return { path, ev };
  });
  return (row, now) => {
    const out: Record<string, unknown> = {};
    for (const part of parts) {
      if ('star' in part) {
        Object.assign(out, row);
        continue;
      }
      const value = part.ev(row, now);
      if (!isNull(value)) setPath(out, part.path, value);
    }
    return out;
  };
}

function exprText(expr: unknown): string {
  try {
    return parser.exprToSQL(expr as never, DIALECT).replaceAll('"', '');
  } catch {
    return 'expr';
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let obj = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const next = obj[key];
    if (!isAst(next)) obj[key] = {};
    obj = obj[key] as Record<string, unknown>;
  }
  obj[path[path.length - 1]!] = value;
}

/** `payload.a.b` arrives as table + column, or as a chain of "." binary expressions; flatten both. */
function columnPath(ref: Ast): string[] {
  const path: string[] = [];
  if (typeof ref['table'] === 'string') path.push(ref['table']);
  const col = ref['column'];
  if (typeof col === 'string') path.push(col);
  else if (isAst(col)) path.push(...dotted(col['expr']));
  return path;
}

function dotted(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (!isAst(node)) return fail('bad field reference');
  if (node['type'] === 'binary_expr' && node['operator'] === '.')
    return [...dotted(node['left']), ...dotted(node['right'])];
  if (typeof node['value'] === 'string') return [node['value']];
  return fail('bad field reference');
}

function compileExpr(node: unknown): Eval {
  if (!isAst(node)) return fail('bad expression');
  switch (node['type']) {
    case 'number':
    case 'bigint': {
      // Decimals and exponents arrive as strings.
      const v = Number(node['value']);
      if (!Number.isFinite(v)) fail(`bad number ${String(node['value'])}`);
      return () => v;
    }
    case 'bool':
    case 'single_quote_string':
    case 'string': {
      const v = node['value'];
      return () => v;
    }
    case 'null':
      return () => null;
    case 'column_ref':
      return compileField(node);
    case 'unary_expr':
      return compileUnary(String(node['operator']), compileExpr(node['expr']));
    case 'binary_expr':
      return compileBinary(node);
    case 'expr_list':
      return fail('a value list is only allowed after IN');
    case 'function':
      return compileFunction(node);
    case 'case':
      return compileCase(node);
    default:
      return fail(`unsupported expression: ${String(node['type'])}`);
  }
}

function compileField(ref: Ast): Eval {
  const col = ref['column'];
  // EMQX reads "C" as a string; a bare double-quoted name is a string literal, a field path stays a path.
  if (!ref['table'] && isAst(col) && isAst(col['expr']) && col['expr']['type'] === 'double_quote_string') {
    const v = col['expr']['value'];
    return () => v;
  }
  const path = columnPath(ref);
  const indexes = Array.isArray(ref['array_index'])
    ? ref['array_index'].map((ix: unknown) => {
        const n = isAst(ix) && isAst(ix['index']) ? ix['index']['value'] : undefined;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) fail('array index must be a positive integer');
        return (n as number) - 1; // EMQX array indexes are 1-based
      })
    : [];
  return (row) => {
    let v: unknown = row;
    for (const key of path) {
      if (!isAst(v)) return undefined;
      v = v[key];
    }
    for (const ix of indexes) {
      if (!Array.isArray(v)) return undefined;
      v = v[ix];
    }
    return v;
  };
}

function compileUnary(op: string, arg: Eval): Eval {
  switch (op.toUpperCase()) {
    case 'NOT':
    case '!':
      return (r, n) => not(arg(r, n));
    case '-':
      return (r, n) => {
        const v = arg(r, n);
        return typeof v === 'number' ? -v : null;
      };
    case '+':
      return arg;
    default:
      return fail(`unsupported operator ${op}`);
  }
}

function compileBinary(node: Ast): Eval {
  const op = String(node['operator']).toUpperCase();
  const left = compileExpr(node['left']);
  if (op === 'IN' || op === 'NOT IN') {
    const list = node['right'];
    if (!isAst(list) || !Array.isArray(list['value'])) return fail(`${op} needs a list: ${op} (1, 2)`);
    const items = list['value'].map(compileExpr);
    const inList: Eval = (r, n) => {
      const v = left(r, n);
      if (isNull(v)) return null;
      return items.some((it) => equal(v, it(r, n)) === true);
    };
    return op === 'IN' ? inList : (r, n) => not(inList(r, n));
  }
  if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
    const list = node['right'];
    if (!isAst(list) || !Array.isArray(list['value']) || list['value'].length !== 2) fail('BETWEEN a AND b');
    const [lo, hi] = (list as { value: unknown[] }).value.map(compileExpr) as [Eval, Eval];
    const between: Eval = (r, n) => {
      const v = left(r, n);
      return and(compare('>=', v, lo(r, n)), compare('<=', v, hi(r, n)));
    };
    return op === 'BETWEEN' ? between : (r, n) => not(between(r, n));
  }
  if (op === 'IS' || op === 'IS NOT') {
    const right = node['right'];
    if (!isAst(right) || right['type'] !== 'null') return fail(`${op} supports NULL only`);
    return op === 'IS' ? (r, n) => isNull(left(r, n)) : (r, n) => !isNull(left(r, n));
  }
  if (op === 'LIKE' || op === 'NOT LIKE') {
    const right = node['right'];
    if (!isAst(right) || typeof right['value'] !== 'string') return fail('LIKE needs a string pattern');
    const re = likeRegex(right['value']);
    const like: Eval = (r, n) => {
      const v = left(r, n);
      return typeof v === 'string' ? re.test(v) : null;
    };
    return op === 'LIKE' ? like : (r, n) => not(like(r, n));
  }
  const right = compileExpr(node['right']);
  switch (op) {
    case 'AND':
      return (r, n) => {
        const a = left(r, n);
        return a === false ? false : and(a, right(r, n));
      };
    case 'OR':
      return (r, n) => {
        const a = left(r, n);
        return a === true ? true : or(a, right(r, n));
      };
    case '=':
      return (r, n) => equal(left(r, n), right(r, n));
    case '!=':
    case '<>':
      return (r, n) => not(equal(left(r, n), right(r, n)));
    case '>':
    case '>=':
    case '<':
    case '<=':
      return (r, n) => compare(op, left(r, n), right(r, n));
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return (r, n) => arithmetic(op, left(r, n), right(r, n));
    case '||':
      return (r, n) => {
        const a = left(r, n);
        const b = right(r, n);
        return isNull(a) || isNull(b) ? null : `${String(a)}${String(b)}`;
      };
    default:
      return fail(`unsupported operator ${op}`);
  }
}

function compileCase(node: Ast): Eval {
  const args = Array.isArray(node['args']) ? (node['args'] as unknown[]) : [];
  const subject = node['expr'] ? compileExpr(node['expr']) : null;
  const whens: Array<{ cond: Eval; result: Eval }> = [];
  let otherwise: Eval = () => null;
  for (const arg of args) {
    if (!isAst(arg)) fail('bad CASE');
    const a = arg as Ast;
    if (a['type'] === 'when') whens.push({ cond: compileExpr(a['cond']), result: compileExpr(a['result']) });
    else otherwise = compileExpr(a['result']);
  }
  return (r, n) => {
    const s = subject?.(r, n);
    for (const w of whens) {
      const c = w.cond(r, n);
      if (subject ? equal(s, c) === true : c === true) return w.result(r, n);
    }
    return otherwise(r, n);
  };
}

function compileFunction(node: Ast): Eval {
  const nameNode = node['name'];
  const parts = isAst(nameNode) && Array.isArray(nameNode['name']) ? (nameNode['name'] as unknown[]) : [];
  const name = parts.map((p) => (isAst(p) ? String(p['value']) : String(p))).join('.');
  const argsNode = node['args'];
  const argList = isAst(argsNode) && Array.isArray(argsNode['value']) ? (argsNode['value'] as unknown[]) : [];
  // `NOT (a OR b)` parses as a call to a function named NOT.
  if (name.toUpperCase() === 'NOT' && argList.length === 1) return compileUnary('NOT', compileExpr(argList[0]));
  const def = FUNCTIONS[name.toLowerCase()];
  if (!def) return fail(`unknown function ${name}() (known: ${Object.keys(FUNCTIONS).join(', ')})`);
  const [min, max] = def.arity;
  if (argList.length < min || argList.length > max)
    fail(`${name}() takes ${min === max ? min : `${min}-${max}`} arguments`);
  const args = argList.map(compileExpr);
  return (r, n) =>
    def.fn(
      args.map((a) => a(r, n)),
      n,
    );
}
