// A machine-condition sensor: vibration, frequency and temperature at a high rate, on the topic and with the `rms`
// field the shipped "Factory sensors" flow averages (factory/<line>/<machine>/vibration).
import { clamp, type Profile, round } from './types.ts';

export interface FactorySensorState {
  baseFreq: number;
  vibration: number;
  temperature: number;
  /** A developing bearing fault raises vibration and temperature over time. */
  fault: number;
}

export const factorySensor: Profile<FactorySensorState> = {
  name: 'factory-sensor',
  prefix: 'fs',
  intervalMs: 100,
  init: (_id, rng) => ({
    baseFreq: rng.pick([49.95, 50, 59.95, 60]),
    vibration: rng.between(0.5, 2.5),
    temperature: rng.between(35, 55),
    fault: 0,
  }),
  tick: (s, id, _now, rng) => {
    if (s.fault === 0 && rng.chance(0.00005)) s.fault = 0.001;
    if (s.fault > 0) s.fault = Math.min(1, s.fault * 1.001 + 0.0001);
    s.vibration = clamp(s.vibration + rng.gauss(0.05) + s.fault * 0.05, 0.1, 45);
    s.temperature = clamp(s.temperature + rng.gauss(0.05) + s.fault * 0.01, -20, 150);
    const freq = s.baseFreq + rng.gauss(0.02);
    return {
      messages: [
        {
          topic: `factory/line-1/${id}/vibration`,
          body: {
            rms: round(s.vibration, 3),
            peak: round(s.vibration * (1.4 + Math.abs(rng.gauss(0.1))), 3),
            freq: round(freq, 3),
            temp: round(s.temperature, 2),
          },
        },
      ],
    };
  },
};
