// Config schema of the field adapters (serial lines, Modbus RTU/TCP). Owned by the adapters part.
import { type Static, Type } from '@sinclair/typebox';

export const AdaptersSchema = Type.Object(
  {
    serial: Type.Array(Type.Object({}, { additionalProperties: true }), { default: [] }),
    modbus: Type.Array(Type.Object({}, { additionalProperties: true }), { default: [] }),
  },
  { additionalProperties: false, default: {} },
);
export type AdaptersConfig = Static<typeof AdaptersSchema>;
