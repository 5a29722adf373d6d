// A cold-chain tracker: temperature, humidity and GPS; it loses coverage for long periods and keeps measuring,
// sending its backlog when it is back (the fleet queues what it produces while offline).
import { clamp, type Profile, round, step } from './types.ts';

export interface LogisticsState {
  lat: number;
  lon: number;
  heading: number;
  temperature: number;
  humidity: number;
  battery: number;
  door: boolean;
}

/** Offline periods last between these, scaled by the fleet's offline factor. */
export const OFFLINE_MS: readonly [number, number] = [10_000, 120_000];

export const logisticsTracker: Profile<LogisticsState> = {
  name: 'logistics-tracker',
  prefix: 'trk',
  intervalMs: 15_000,
  init: (_id, rng) => ({
    lat: rng.between(40, 60),
    lon: rng.between(-5, 25),
    heading: rng.between(0, 360),
    temperature: rng.between(2, 8),
    humidity: rng.between(60, 90),
    battery: rng.between(60, 100),
    door: false,
  }),
  tick: (s, id, _now, rng) => {
    [s.lat, s.lon] = step(s.lat, s.lon, s.heading, rng.between(0, 0.4));
    s.heading = (s.heading + rng.gauss(3) + 360) % 360;
    s.door = rng.chance(s.door ? 0.5 : 0.01);
    // Reefer keeps 2–8 °C; an open door lets it warm up.
    s.temperature = clamp(s.temperature + rng.gauss(0.1) + (s.door ? 0.8 : -0.05 * (s.temperature - 5)), -30, 40);
    s.humidity = clamp(s.humidity + rng.gauss(1), 10, 100);
    s.battery = Math.max(0, s.battery - 0.01);
    const result = {
      messages: [
        {
          topic: `devices/${id}/telemetry`,
          body: {
            temp: round(s.temperature, 2),
            humidity: round(s.humidity, 1),
            gps: { lat: round(s.lat, 5), lon: round(s.lon, 5) },
            door_open: s.door,
            battery: round(s.battery, 1),
          },
        },
      ],
    };
    // Tunnels, ports, dead zones: about one tick in 25 starts a long offline period.
    return rng.chance(0.04) ? { ...result, offlineMs: rng.between(OFFLINE_MS[0], OFFLINE_MS[1]) } : result;
  },
};
