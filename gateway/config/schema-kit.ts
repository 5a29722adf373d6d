// Building blocks of the config schema, shared by the sections each part owns (gateway/, flows/, cloud-sync/).
import { type TLiteral, type TSchema, type TUnion, Type } from '@sinclair/typebox';

type Literals<T extends readonly (string | number)[]> = T extends readonly [
  infer H extends string | number,
  ...infer R extends readonly (string | number)[],
]
  ? [TLiteral<H>, ...Literals<R>]
  : [];

/** An enum as a union of literals, so the static type is `'a' | 'b'` and errors can list the choices. */
export function OneOf<const T extends readonly (string | number)[]>(
  values: T,
  options: { default: T[number]; description: string },
): TUnion<Literals<T>> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as never;
}

/** An object section whose missing keys all take their defaults. */
export function Section<T extends Record<string, TSchema>>(properties: T, description?: string) {
  return Type.Object(properties, { additionalProperties: false, default: {}, ...(description ? { description } : {}) });
}

export const Port = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: def, description });

export const Millis = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });
