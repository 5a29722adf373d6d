// The device profiles the fleet can run, by name.
import { doorLock } from './door-lock.ts';
import { factorySensor } from './factory-sensor.ts';
import { logisticsTracker } from './logistics-tracker.ts';
import type { Profile } from './types.ts';
import { vehicle } from './vehicle.ts';

export const PROFILES = {
  'door-lock': doorLock,
  vehicle,
  'factory-sensor': factorySensor,
  'logistics-tracker': logisticsTracker,
} as const;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export function getProfile(name: ProfileName): Profile<unknown> {
  return PROFILES[name] as unknown as Profile<unknown>;
}
