// The gateway's one config schema, put together from the sections each part owns: it gives the TypeScript type, the
// defaults, the validation and (walked by env.ts) the GATEWAY_* environment mapping. Every leaf has a description;
// docs.ts turns them into docs/configuration.md.
import { type Static, Type } from '@sinclair/typebox';
import { DownlinkSchema, KafkaSchema } from '../../cloud-sync/schema.ts';
import { FlowsSchema } from '../../flows/schema.ts';
import {
  AdaptersSchema,
  ClassesSchema,
  DataDirSchema,
  EventsSchema,
  HttpSchema,
  IdentitySchema,
  LogSchema,
  MqttSchema,
  RoutesSchema,
  SecuritySchema,
  StoreSchema,
} from '../../gateway/config/schema.ts';

export const GatewayConfigSchema = Type.Object(
  {
    gatewayId: IdentitySchema,
    dataDir: DataDirSchema,
    log: LogSchema,
    mqtt: MqttSchema,
    http: HttpSchema,
    kafka: KafkaSchema,
    store: StoreSchema,
    classes: ClassesSchema,
    routes: RoutesSchema,
    downlink: DownlinkSchema,
    adapters: AdaptersSchema,
    flows: FlowsSchema,
    security: SecuritySchema,
    events: EventsSchema,
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export { ClassSchema } from '../../gateway/config/schema.ts';
