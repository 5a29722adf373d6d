// Config schema of the embedded Node-RED runtime. Owned by the flows part.
import { type Static, Type } from '@sinclair/typebox';

export const FlowsSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Run the embedded Node-RED runtime and editor.' }),
  },
  { additionalProperties: false, default: {} },
);
export type FlowsConfig = Static<typeof FlowsSchema>;
