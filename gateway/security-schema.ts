// The config's `security` section: identity (gateway/auth/) and limits (gateway/limits/), one section for the
// operator, documented in docs/security.md.
import { Type } from '@sinclair/typebox';
import { AuthProperties } from './auth/schema.ts';
import { LimitsProperties } from './limits/schema.ts';

export const SecuritySchema = Type.Object(
  { ...AuthProperties, ...LimitsProperties },
  { additionalProperties: false, default: {}, description: 'Authentication, authorization and limits.' },
);
