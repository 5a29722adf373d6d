// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL topics and the client id pattern spell placeholders as ${name}.
// Authentication and authorization settings: the `security` section's identity half (methods chained in order,
// ACL rules, the client id bound to the identity). Documented in docs/security.md.
import { type Static, type TLiteral, type TSchema, type TUnion, Type } from '@sinclair/typebox';

const Strings = (description: string, def: string[] = []) => Type.Array(Type.String(), { default: def, description });

function Section<T extends Record<string, TSchema>>(properties: T, description: string) {
  return Type.Object(properties, { additionalProperties: false, default: {}, description });
}

export const METHODS = ['password', 'signature', 'jwt', 'certificate', 'webhook'] as const;
export type Method = (typeof METHODS)[number];

type Literals<T extends readonly string[]> = T extends readonly [
  infer H extends string,
  ...infer R extends readonly string[],
]
  ? [TLiteral<H>, ...Literals<R>]
  : [];

/** An enum as a union of literals, so the static type is `'a' | 'b'` and errors can list the choices. */
function Enum<const T extends readonly string[]>(values: T, def: T[number], description: string): TUnion<Literals<T>> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { default: def, description },
  ) as never;
}

export const UserSchema = Type.Object(
  {
    username: Type.String({ minLength: 1, description: 'MQTT username.' }),
    passwordHash: Type.String({
      minLength: 1,
      writeOnly: true,
      description:
        'Password hash from `./gw auth hash`: scrypt (`$scrypt$...`), bcrypt (`$2b$...`) or argon2id (`$argon2id$...`). Plaintext is refused.',
    }),
  },
  { additionalProperties: false },
);

export const SignatureKeySchema = Type.Object(
  {
    accessKey: Type.String({ minLength: 1, description: 'Access key id, the middle part of the username.' }),
    secret: Type.String({ minLength: 1, writeOnly: true, description: 'Secret key of the HMAC (device or group).' }),
  },
  { additionalProperties: false },
);

export const AclRuleSchema = Type.Object(
  {
    permission: Enum(['allow', 'deny'] as const, 'allow', 'What the rule decides when it matches.'),
    action: Enum(
      ['publish', 'subscribe', 'retain', 'all'] as const,
      'all',
      '`publish` (retained or not), `subscribe`, `retain` (retained publishes only) or `all`.',
    ),
    topics: Type.Array(Type.String(), {
      minItems: 1,
      description:
        'MQTT topic filters with ${clientid}, ${username} and ${cn}; `eq <topic>` matches the text literally (wildcards included).',
    }),
    username: Type.Optional(Type.String({ description: 'Only for this username.' })),
    clientid: Type.Optional(Type.String({ description: 'Only for this client id.' })),
    admin: Type.Optional(Type.Boolean({ description: 'Only for admin identities (true) or only for others (false).' })),
  },
  { additionalProperties: false },
);

const AuthenticationSchema = Section(
  {
    order: Type.Array(Enum(METHODS, 'password', 'An authentication method.'), {
      default: [...METHODS],
      description:
        'The chain: methods tried in this order; a method not configured is skipped. A method that knows the client decides; one that does not passes it on.',
    }),
    users: Type.Array(UserSchema, { default: [], description: 'Static users with password hashes.' }),
    signature: Section(
      {
        keys: Type.Array(SignatureKeySchema, {
          default: [],
          description:
            'Access keys of the HMAC signature method: username `Signature|<accessKey>|<instanceId>`, password base64(HMAC-SHA1 or HMAC-SHA256(secret, clientId)).',
        }),
        instanceId: Type.String({
          default: '',
          description: 'Instance id the username must carry (empty = any).',
        }),
        algorithms: Type.Array(Enum(['sha1', 'sha256'] as const, 'sha256', 'HMAC hash.'), {
          default: ['sha1', 'sha256'],
          description: 'HMAC hashes accepted.',
        }),
      },
      'Per-device HMAC signatures of the client id (ApsaraMQ for MQTT style).',
    ),
    jwt: Section(
      {
        secret: Type.String({ default: '', writeOnly: true, description: 'Shared secret of HS256 tokens.' }),
        publicKey: Type.String({ default: '', description: 'Path to a PEM public key (RS256 or ES256).' }),
        jwks: Type.String({ default: '', description: 'Path to a JWKS file (keys picked by `kid`).' }),
        algorithms: Type.Array(Enum(['HS256', 'RS256', 'ES256'] as const, 'HS256', 'JWS algorithm.'), {
          default: ['HS256', 'RS256', 'ES256'],
          description: 'Algorithms accepted (of those the configured keys can verify).',
        }),
        clientIdClaim: Type.String({
          minLength: 1,
          default: 'clientid',
          description: 'Claim that names the client id the token is for; the connecting client id must equal it.',
        }),
        issuer: Type.String({ default: '', description: 'Required `iss` (empty = not checked).' }),
        audience: Type.String({ default: '', description: 'Required `aud` (empty = not checked).' }),
        clockToleranceSec: Type.Integer({
          minimum: 0,
          default: 30,
          description: 'Allowed clock skew for `exp`/`nbf`.',
        }),
      },
      'Expiring tokens (JWT) sent as the MQTT password; `exp` is required. Optional `publish`/`subscribe` claims (lists of topic filters) limit the client further.',
    ),
    certificate: Section(
      {
        identity: Enum(
          ['cn', 'san-dns', 'san-uri', 'san-email'] as const,
          'cn',
          'Which certificate name becomes the identity.',
        ),
      },
      'X.509 client certificates, verified against mqtt.tls.ca (configuring the CA makes them required on the TLS listener).',
    ),
    webhook: Section(
      {
        url: Type.String({
          default: '',
          description:
            'HTTP(S) URL POSTed {clientid, username, password, peerhost, cn}; answers {"result":"allow"|"deny"|"ignore","is_superuser":bool,"expire_at":seconds}. `expire_at` (optional, seconds since the epoch): the connection is closed then (reason auth_expired), an answer is not cached beyond it, and an allow whose expire_at has passed is refused (webhook-expired); a non-numeric one is a failure (failMode). Empty = off.',
        }),
        timeoutMs: Type.Integer({ minimum: 1, default: 2000, description: 'Timeout of one webhook request.' }),
        cacheTtlSec: Type.Integer({
          minimum: 0,
          default: 60,
          description: 'How long an allow or deny answer is reused (0 = not cached).',
        }),
        failMode: Enum(
          ['closed', 'open'] as const,
          'closed',
          'When the webhook fails or times out: `closed` refuses the client, `open` accepts it.',
        ),
      },
      'Authentication by an HTTP service.',
    ),
    backoff: Section(
      {
        failures: Type.Integer({
          minimum: 1,
          default: 5,
          description: 'Failed attempts from one address before it is refused for a while.',
        }),
        initialSec: Type.Integer({ minimum: 1, default: 2, description: 'First refusal period; doubles each time.' }),
        maxSec: Type.Integer({ minimum: 1, default: 300, description: 'Longest refusal period.' }),
      },
      'Repeated authentication failures from one address back off.',
    ),
  },
  'How MQTT clients prove who they are.',
);

const AuthorizationSchema = Section(
  {
    template: Enum(
      ['none', 'per-device'] as const,
      'none',
      '`per-device`: a device publishes under devices/${clientid}/ except its command topic and subscribes only to devices/${clientid}/command (added after `rules`).',
    ),
    rules: Type.Array(AclRuleSchema, {
      default: [],
      description: 'ACL rules, first match wins. Once rules or a template exist, what no rule allows is denied.',
    }),
    admins: Strings('Identities (usernames, certificate names, token client ids) allowed everything, $SYS/# included.'),
    commandTopics: Strings('Topic filters of device commands: retained publishes to them are always refused.', [
      'devices/+/command',
      'devices/+/command/#',
    ]),
  },
  'What an authenticated client may publish, subscribe to and retain.',
);

export const AuthProperties = {
  anonymous: Type.Boolean({
    default: false,
    description:
      'Accept MQTT clients without credentials on every listener (warned at every start). With no authentication method configured, listeners bind to loopback only and local clients connect without credentials.',
  }),
  authentication: AuthenticationSchema,
  authorization: AuthorizationSchema,
  clientId: Section(
    {
      pattern: Type.String({
        default: '${identity}',
        description:
          'The client id an authenticated client must use: ${identity} (username, certificate name or token client id), ${username}, ${cn}, `*` for any run of characters. Empty = not bound.',
      }),
    },
    'The client id bound to the identity, so no one can take over another device session.',
  ),
} satisfies Record<string, TSchema>;

export const AuthConfigSchema = Type.Object(AuthProperties);
export type AuthConfig = Static<typeof AuthConfigSchema>;
export type AclRule = Static<typeof AclRuleSchema>;
