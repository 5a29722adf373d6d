// Resource limits and the HTTP/editor hardening settings: the `security` section's protection half.
import { type TSchema, Type } from '@sinclair/typebox';

export const LimitsSchema = Type.Object(
  {},
  { additionalProperties: false, default: {}, description: 'Limits checked before anything is buffered.' },
);

export const LimitsProperties = {
  limits: LimitsSchema,
} satisfies Record<string, TSchema>;
