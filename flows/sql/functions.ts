// Functions of the edge rule SQL, named as in the EMQX rule engine. A NULL or wrongly typed argument gives NULL.

export const isNull = (v: unknown): v is null | undefined => v === null || v === undefined;

type Fn = (args: unknown[], now: number) => unknown;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const FUNCTIONS: Record<string, { arity: [number, number]; fn: Fn }> = {
  abs: { arity: [1, 1], fn: ([v]) => (num(v) === null ? null : Math.abs(v as number)) },
  round: {
    arity: [1, 2],
    fn: ([v, d]) => {
      const x = num(v);
      if (x === null) return null;
      const f = 10 ** (num(d) ?? 0);
      return Math.round(x * f) / f;
    },
  },
  floor: { arity: [1, 1], fn: ([v]) => (num(v) === null ? null : Math.floor(v as number)) },
  ceil: { arity: [1, 1], fn: ([v]) => (num(v) === null ? null : Math.ceil(v as number)) },
  sqrt: { arity: [1, 1], fn: ([v]) => (num(v) === null ? null : Math.sqrt(v as number)) },
  lower: { arity: [1, 1], fn: ([v]) => (typeof v === 'string' ? v.toLowerCase() : null) },
  upper: { arity: [1, 1], fn: ([v]) => (typeof v === 'string' ? v.toUpperCase() : null) },
  concat: { arity: [1, 16], fn: (args) => (args.some(isNull) ? null : args.map(String).join('')) },
  coalesce: { arity: [1, 16], fn: (args) => args.find((a) => !isNull(a)) ?? null },
  // EMQX: seconds by default; now_timestamp('millisecond') for ms.
  now_timestamp: {
    arity: [0, 1],
    fn: ([unit], now) => (unit === 'millisecond' ? now : Math.floor(now / 1000)),
  },
};
