// Config schema of the field adapters (serial lines, Modbus RTU/TCP). Owned by the adapters part.
// Each `modbus[]` entry is one device; devices naming the same serial `path` (RTU) or the same `host:port` (TCP)
// share one bus and its one-request-at-a-time queue.
import { type Static, Type } from '@sinclair/typebox';
import { PointSchema } from './register-map.ts';

const NAME = { minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' };

const reconnect = {
  reconnectMinMs: Type.Integer({
    minimum: 10,
    default: 1000,
    description: 'First delay before reopening a port or connection that failed; doubles per failure.',
  }),
  reconnectMaxMs: Type.Integer({ minimum: 10, default: 30_000, description: 'Longest delay between reopen attempts.' }),
};

const serialLine = {
  baudRate: Type.Integer({ minimum: 50, default: 9600, description: 'Line speed in baud.' }),
  dataBits: Type.Union([Type.Literal(5), Type.Literal(6), Type.Literal(7), Type.Literal(8)], {
    default: 8,
    description: 'Data bits per character.',
  }),
  parity: Type.Union([Type.Literal('none'), Type.Literal('even'), Type.Literal('odd')], {
    default: 'none',
    description: 'Parity bit.',
  }),
  stopBits: Type.Union([Type.Literal(1), Type.Literal(2)], { default: 1, description: 'Stop bits.' }),
};

const qos = Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], {
  default: 1,
  description: 'QoS of published values; 1 or 2 makes them durable before the publish completes.',
});

export const SerialPortSchema = Type.Object(
  {
    name: Type.String({ ...NAME, description: 'Device name: the client id and Kafka key of its values.' }),
    path: Type.String({ minLength: 1, description: 'Serial device path, e.g. /dev/ttyUSB0.' }),
    ...serialLine,
    framing: Type.Union([Type.Literal('lines'), Type.Literal('json'), Type.Literal('nmea')], {
      default: 'lines',
      description: 'lines: delimited text lines; json: one JSON value per line; nmea: NMEA 0183 GGA/RMC/VTG.',
    }),
    delimiter: Type.String({ minLength: 1, default: '\n', description: 'End-of-frame delimiter ("\\r" is trimmed).' }),
    fields: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'lines framing: names of the separated fields; empty publishes the whole line as "line".',
    }),
    separator: Type.String({ minLength: 1, default: ',', description: 'lines framing: field separator.' }),
    maxLineLength: Type.Integer({
      minimum: 16,
      default: 4096,
      description: 'A frame longer than this without a delimiter is dropped and counted.',
    }),
    topic: Type.String({ default: '', description: 'Topic of the values; empty means "serial/<name>".' }),
    qos,
    ...reconnect,
  },
  { additionalProperties: false },
);
export type SerialPortConfig = Static<typeof SerialPortSchema>;

export const ModbusDeviceSchema = Type.Object(
  {
    name: Type.String({ ...NAME, description: 'Device name: the client id and Kafka key of its values.' }),
    transport: Type.Union([Type.Literal('rtu'), Type.Literal('tcp')], {
      default: 'tcp',
      description: 'rtu: Modbus RTU on a serial line; tcp: Modbus TCP.',
    }),
    path: Type.String({ default: '', description: 'rtu: serial device path (devices on one path share the bus).' }),
    ...serialLine,
    host: Type.String({ default: '127.0.0.1', description: 'tcp: host of the Modbus TCP server.' }),
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 502,
      description: 'tcp: port of the Modbus TCP server.',
    }),
    unitId: Type.Integer({ minimum: 0, maximum: 255, default: 1, description: 'Modbus unit (slave) id.' }),
    pollIntervalMs: Type.Integer({ minimum: 0, default: 1000, description: 'Time between the starts of two polls.' }),
    timeoutMs: Type.Integer({ minimum: 10, default: 1000, description: 'Response timeout of one request.' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'Retries of a failed request.' }),
    maxGap: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 0,
      description: 'Unused registers/coils a coalesced read may span between two points (0: contiguous only).',
    }),
    topic: Type.String({
      default: '',
      description: 'Topic prefix; a point publishes on "<topic>/<point>". Empty means "modbus/<name>".',
    }),
    qos,
    ...reconnect,
    points: Type.Array(PointSchema, { default: [], description: 'The register map of the device.' }),
  },
  { additionalProperties: false },
);
export type ModbusDeviceConfig = Static<typeof ModbusDeviceSchema>;

export const AdaptersSchema = Type.Object(
  {
    serial: Type.Array(SerialPortSchema, { default: [], description: 'Serial devices that write frames.' }),
    modbus: Type.Array(ModbusDeviceSchema, { default: [], description: 'Modbus RTU/TCP devices to poll.' }),
  },
  { additionalProperties: false, default: {}, description: 'Field adapters: serial lines and Modbus polling.' },
);
export type AdaptersConfig = Static<typeof AdaptersSchema>;
