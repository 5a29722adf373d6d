// Default register maps of the simulated Modbus slaves, one per profile, in the gateway's register-map format
// (gateway/adapters/register-map.ts), so a gateway config can poll the slave with the same points.
import { Value } from '@sinclair/typebox/value';
import { type Point, type RegisterMap, RegisterMapSchema } from '../../gateway/adapters/register-map.ts';
import type { ProfileName } from '../profiles/index.ts';

type PointIn = Partial<Point> & Pick<Point, 'name' | 'address'>;

const MAPS: Record<ProfileName, PointIn[]> = {
  'factory-sensor': [
    { name: 'rms', area: 'input', address: 0, type: 'float32', unit: 'mm/s' },
    { name: 'peak', area: 'input', address: 2, type: 'float32', unit: 'mm/s' },
    { name: 'freq', area: 'input', address: 4, type: 'uint16', scale: 0.01, unit: 'Hz' },
    { name: 'temp', area: 'input', address: 5, type: 'int16', scale: 0.1, unit: '°C' },
    { name: 'running', area: 'coil', address: 0, type: 'bool', writable: true },
  ],
  vehicle: [
    { name: 'speed', area: 'input', address: 0, type: 'uint16', scale: 0.1, unit: 'km/h' },
    { name: 'lat', area: 'input', address: 1, type: 'float32', unit: '°' },
    { name: 'lon', area: 'input', address: 3, type: 'float32', unit: '°' },
    { name: 'battery', area: 'input', address: 5, type: 'uint16', scale: 0.01, unit: 'V' },
    { name: 'odometer', area: 'input', address: 6, type: 'uint32', scale: 0.1, unit: 'km' },
    { name: 'tire_fl', area: 'input', address: 8, type: 'uint16', scale: 0.01, unit: 'bar' },
    { name: 'tire_fr', area: 'input', address: 9, type: 'uint16', scale: 0.01, unit: 'bar' },
    { name: 'tire_rl', area: 'input', address: 10, type: 'uint16', scale: 0.01, unit: 'bar' },
    { name: 'tire_rr', area: 'input', address: 11, type: 'uint16', scale: 0.01, unit: 'bar' },
  ],
  'logistics-tracker': [
    { name: 'temp', area: 'input', address: 0, type: 'int16', scale: 0.01, unit: '°C' },
    { name: 'humidity', area: 'input', address: 1, type: 'uint16', scale: 0.1, unit: '%' },
    { name: 'lat', area: 'input', address: 2, type: 'float32', unit: '°' },
    { name: 'lon', area: 'input', address: 4, type: 'float32', unit: '°' },
    { name: 'door_open', area: 'discrete', address: 0, type: 'bool' },
    { name: 'setpoint', area: 'holding', address: 0, type: 'int16', scale: 0.1, unit: '°C', writable: true },
  ],
  'door-lock': [
    { name: 'locked', area: 'coil', address: 0, type: 'bool', writable: true },
    { name: 'door_open', area: 'discrete', address: 0, type: 'bool' },
    { name: 'battery', area: 'input', address: 0, type: 'uint16', scale: 0.1, unit: '%' },
  ],
};

/** Validates and fills in defaults, like the gateway does with its config; throws with every problem. */
export function checkRegisterMap(raw: unknown): RegisterMap {
  const withDefaults = Value.Default(RegisterMapSchema, structuredClone(raw));
  if (!Value.Check(RegisterMapSchema, withDefaults)) {
    const problems = [...Value.Errors(RegisterMapSchema, withDefaults)].map((e) => `${e.path || '/'}: ${e.message}`);
    throw new Error(`register map: ${problems.join('; ')}`);
  }
  return withDefaults as RegisterMap;
}

export function defaultMap(profile: ProfileName): RegisterMap {
  return checkRegisterMap(MAPS[profile]);
}
