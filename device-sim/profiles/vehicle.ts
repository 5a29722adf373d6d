// A connected vehicle: speed, GPS track, tire pressure, battery, and rare diagnostic trouble codes.
import { clamp, type Profile, type ProfileMessage, round, step } from './types.ts';

export interface VehicleState {
  lat: number;
  lon: number;
  heading: number;
  speed: number;
  odometer: number;
  tires: [number, number, number, number];
  battery: number;
  lastAt: number;
}

export const DTC_CODES = ['P0300', 'P0171', 'P0420', 'P0128', 'C0035', 'B1000', 'U0100', 'P0562'] as const;

export const vehicle: Profile<VehicleState> = {
  name: 'vehicle',
  prefix: 'veh',
  intervalMs: 2_000,
  init: (_id, rng, now) => ({
    lat: rng.between(47, 55),
    lon: rng.between(6, 15),
    heading: rng.between(0, 360),
    speed: rng.between(0, 90),
    odometer: rng.between(5_000, 250_000),
    tires: [0, 0, 0, 0].map(() => rng.between(2.3, 2.6)) as VehicleState['tires'],
    battery: rng.between(12.3, 12.8),
    lastAt: now,
  }),
  tick: (s, id, now, rng) => {
    const dt = Math.max(0, now - s.lastAt) / 1000;
    s.lastAt = now;
    s.speed = clamp(s.speed + rng.gauss(4), 0, 160);
    if (rng.chance(0.01)) s.speed = 0; // traffic light
    s.heading = (s.heading + rng.gauss(5) + 360) % 360;
    const km = (s.speed * dt) / 3600;
    [s.lat, s.lon] = step(s.lat, s.lon, s.heading, km);
    s.odometer += km;
    for (let i = 0; i < 4; i++) {
      // A slow leak now and then; otherwise small thermal drift.
      s.tires[i] = clamp(s.tires[i]! + rng.gauss(0.005) - (rng.chance(0.0005) ? 0.3 : 0), 0.5, 3.2);
    }
    s.battery = clamp(s.battery + (s.speed > 5 ? 0.01 : -0.005) + rng.gauss(0.01), 11, 14.6);
    // The shape the shipped "Vehicles" flow reads: speed, lat, lon and a rare trouble code (dtc) on one topic.
    const messages: ProfileMessage[] = [
      {
        topic: `vehicles/${id}/telemetry`,
        body: {
          speed: round(s.speed, 1),
          lat: round(s.lat, 6),
          lon: round(s.lon, 6),
          heading: round(s.heading, 1),
          odometer: round(s.odometer, 1),
          tires: s.tires.map((t) => round(t, 2)),
          battery: round(s.battery, 2),
          ...(rng.chance(0.001) ? { dtc: rng.pick(DTC_CODES), mil: rng.chance(0.5) } : {}),
        },
      },
    ];
    return { messages };
  },
};
