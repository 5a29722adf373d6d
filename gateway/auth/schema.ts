// Authentication and authorization settings: the `security` section's identity half (methods chained in order,
// ACL rules, the client id bound to the identity).
import { type TSchema, Type } from '@sinclair/typebox';

export const AuthProperties = {
  anonymous: Type.Boolean({
    default: false,
    description:
      'Accept MQTT clients without credentials. With no authentication method configured the listeners bind to loopback only.',
  }),
} satisfies Record<string, TSchema>;
