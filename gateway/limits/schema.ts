// Resource limits and the HTTP/editor hardening settings: the `security` section's protection half.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { OfflineQueueSchema } from './offline-queue.ts';

const Section = <T extends Record<string, TSchema>>(properties: T, description: string) =>
  Type.Object(properties, { additionalProperties: false, default: {}, description });

export const LimitsSchema = Section(
  {
    maxPacketBytesBeforeConnect: Type.Integer({
      minimum: 128,
      maximum: 1048576,
      default: 65536,
      description:
        'Most bytes a client may send before its CONNECT is accepted, in one packet or several. Checked on the fixed ' +
        'header: a bigger length claim closes the socket before the body is read.',
    }),
    maxPacketBytes: Type.Integer({
      minimum: 1024,
      maximum: 268435460,
      default: 1048576,
      description:
        'Largest MQTT packet (fixed header included) of a connected client, and largest WebSocket frame. A bigger ' +
        'packet closes the connection before its body is read; an oversize publish of any QoS is neither stored nor ' +
        'delivered.',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 10000,
      default: 10000,
      description: 'A socket that has not completed CONNECT within this time is closed.',
    }),
    maxConnections: Type.Integer({
      minimum: 1,
      default: 10000,
      description: 'Most MQTT connections (TCP, TLS and WebSocket together); more are closed at once and counted.',
    }),
    maxConnectionsPerAddress: Type.Integer({
      minimum: 1,
      default: 1000,
      description: 'Most MQTT connections from one IP address; more are closed at once and counted.',
    }),
    offlineQueue: OfflineQueueSchema,
  },
  'Limits checked before anything is buffered. Every refusal is counted in gateway_limit_refusals_total{limit}.',
);

export const HttpSecuritySchema = Section(
  {
    tls: Section(
      {
        cert: Type.String({
          default: '',
          description:
            'PEM server certificate (text or file path) of the HTTP port. With cert and key set the editor, health, ' +
            'metrics and MQTT over WebSocket are served over https/wss only.',
        }),
        key: Type.String({
          default: '',
          writeOnly: true,
          description: 'PEM private key (text or file path) of the HTTP certificate.',
        }),
      },
      'TLS on the HTTP port.',
    ),
    allowedOrigins: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Origins (`https://ops.example.net`) allowed to open WebSockets (MQTT over WebSocket, editor comms). A ' +
        'request without Origin (not a browser) or from the same host is always allowed; `*` allows every origin.',
    }),
    token: Type.String({
      default: '',
      writeOnly: true,
      description:
        'Bearer token required on /metrics, /healthz, /livez, /readyz and /api/devices (`Authorization: Bearer <token>`). Empty: they are open.',
    }),
  },
  'Hardening of the HTTP port.',
);

export const EditorSecuritySchema = Section(
  {
    allowNodes: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Node-RED node files to keep although they touch the system (off by default: `90-exec.js`, `10-file.js`, ' +
        '`23-watch.js`, `31-tcpin.js`, `32-udp.js`, `21-httprequest.js`, `22-websocket.js`).',
    }),
  },
  'The flow editor: editor login is flows.adminAuth.',
);

export const LimitsProperties = {
  limits: LimitsSchema,
  http: HttpSecuritySchema,
  editor: EditorSecuritySchema,
} satisfies Record<string, TSchema>;

export type LimitsConfig = Static<typeof LimitsSchema>;
export type HttpSecurityConfig = Static<typeof HttpSecuritySchema>;
export type EditorSecurityConfig = Static<typeof EditorSecuritySchema>;
