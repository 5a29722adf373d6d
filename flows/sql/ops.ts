// SQL's three-valued logic and operators for the rule compiler: NULL (a missing field) makes comparisons NULL, and
// NULL is not true, so a WHERE over a missing field filters the message out.
import { isNull } from './functions.ts';

export function not(v: unknown): boolean | null {
  return isNull(v) ? null : !truthy(v);
}
export const truthy = (v: unknown): boolean => v === true;

export function and(a: unknown, b: unknown): boolean | null {
  if (a === false || b === false) return false;
  if (isNull(a) || isNull(b)) return null;
  return truthy(a) && truthy(b);
}
export function or(a: unknown, b: unknown): boolean | null {
  if (a === true || b === true) return true;
  if (isNull(a) || isNull(b)) return null;
  return false;
}

export function equal(a: unknown, b: unknown): boolean | null {
  if (isNull(a) || isNull(b)) return null;
  if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '') return a === Number(b);
  if (typeof a === 'string' && typeof b === 'number' && a.trim() !== '') return Number(a) === b;
  return a === b;
}

export function compare(op: string, a: unknown, b: unknown): boolean | null {
  const bothNumbers = typeof a === 'number' && typeof b === 'number';
  const bothStrings = typeof a === 'string' && typeof b === 'string';
  if (!bothNumbers && !bothStrings) return null;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case '>':
      return x > y;
    case '>=':
      return x >= y;
    case '<':
      return x < y;
    default:
      return x <= y;
  }
}

export function arithmetic(op: string, a: unknown, b: unknown): number | null {
  if (typeof a !== 'number' || typeof b !== 'number') return null;
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? null : a / b;
    default:
      return b === 0 ? null : a % b;
  }
}

export function likeRegex(pattern: string): RegExp {
  const body = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replaceAll('%', '.*')
    .replaceAll('_', '.');
  return new RegExp(`^${body}$`, 's');
}
