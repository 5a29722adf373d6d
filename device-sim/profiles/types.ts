// What a device profile is: a state, a periodic tick that may emit messages, and optionally commands it answers and
// offline periods it takes. Profiles are pure functions of their state and a seeded random source, so unit tests can
// check their payloads without sockets.

/** A seeded random source (mulberry32): the same seed gives the same fleet. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return Math.floor(this.between(lo, hi + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Roughly normal (sum of uniforms), mean 0, deviation sd. */
  gauss(sd = 1): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * sd * 1.7320508;
  }
}

/** One message a profile wants published; device, seq, ts and run are added by the fleet. */
export interface ProfileMessage {
  topic: string;
  body: Record<string, unknown>;
}

export interface TickResult {
  messages: ProfileMessage[];
  /** When set, the device drops its link now and stays offline this many ms (queueing what it measures). */
  offlineMs?: number;
}

export interface Profile<S = unknown> {
  name: string;
  /** Default time between ticks per device (ms). */
  intervalMs: number;
  /** Short id prefix for this profile's devices. */
  prefix: string;
  init: (id: string, rng: Rng, now: number) => S;
  tick: (state: S, id: string, now: number, rng: Rng) => TickResult;
  /** Topic the device subscribes to for commands. */
  commandTopic?: (id: string) => string;
  /** Answers a command; the replies are published like any other message. */
  onCommand?: (state: S, id: string, payload: Buffer, now: number) => ProfileMessage[];
}

/** Rounds to a fixed number of decimals, so payloads stay short. */
export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Moves a GPS point `km` along `headingDeg` (flat-earth step, fine for seconds of travel). */
export function step(lat: number, lon: number, headingDeg: number, km: number): [number, number] {
  const rad = (headingDeg * Math.PI) / 180;
  const dLat = (km * Math.cos(rad)) / 111.32;
  const dLon = (km * Math.sin(rad)) / (111.32 * Math.cos((lat * Math.PI) / 180));
  return [clamp(lat + dLat, -85, 85), ((lon + dLon + 540) % 360) - 180];
}
