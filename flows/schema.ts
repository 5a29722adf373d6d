// Config schema of the embedded Node-RED runtime. Owned by the flows part.
import { type Static, Type } from '@sinclair/typebox';

const AdminAuthSchema = Type.Object(
  {
    username: Type.String({ minLength: 1, description: 'Editor login name.' }),
    passwordHash: Type.String({
      pattern: '^\\$2[aby]\\$\\d{2}\\$.{53}$',
      description:
        'bcrypt hash of the editor password, never the password itself ' +
        "(node -e \"console.log(require('bcryptjs').hashSync(process.argv[1], 8))\" '<password>').",
    }),
  },
  { additionalProperties: false, description: 'Editor and admin API login. Absent: the editor is open to anyone.' },
);

export const FlowsSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Run the embedded Node-RED runtime and editor.' }),
    editorPath: Type.String({
      default: '/editor',
      pattern: '^/[A-Za-z0-9_\\-/]*$',
      description:
        'URL path of the editor and its admin API on the gateway HTTP server. Not `/`: the gateway serves ' +
        '/healthz and /metrics on the same server.',
    }),
    httpNodePath: Type.String({
      default: '/http',
      pattern: '^/[A-Za-z0-9_\\-/]*$',
      description: 'URL path under which flows serve their own `http in` endpoints.',
    }),
    adminAuth: Type.Optional(AdminAuthSchema),
    credentialSecret: Type.Optional(
      Type.String({
        minLength: 8,
        writeOnly: true,
        description:
          'Key that encrypts credentials stored with the flows (env GATEWAY_FLOWS_CREDENTIAL_SECRET). Absent: ' +
          'Node-RED generates one and keeps it in the user dir next to the flows.',
      }),
    ),
    installDefaultFlows: Type.Boolean({
      default: true,
      description: 'On first start (no flows saved yet) install the flows that ship with the gateway.',
    }),
    completionTimeoutMs: Type.Integer({
      default: 60_000,
      minimum: 100,
      description:
        'A message that entered a flow and is not completed by every node within this time is released from the ' +
        'flow journal and counted as `timeout` (gateway_flow_messages_total).',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type FlowsConfig = Static<typeof FlowsSchema>;
