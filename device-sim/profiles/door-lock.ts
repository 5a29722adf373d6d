// The seed's smart lock: state on devices/{id}/state every minute and on change; answers lock/unlock commands
// sent on devices/{id}/command with a reply on devices/{id}/command/reply and the new state.
import { type Profile, type ProfileMessage, round } from './types.ts';

export interface DoorLockState {
  locked: boolean;
  door: 'open' | 'closed';
  battery: number;
  lastStateAt: number;
  /** Why the last state was sent: heartbeat, a change at the door, or a command. */
  cause: 'heartbeat' | 'change' | 'command';
}

export const HEARTBEAT_MS = 60_000;

function state(s: DoorLockState, id: string): ProfileMessage {
  return {
    topic: `devices/${id}/state`,
    body: { locked: s.locked, door: s.door, battery: round(s.battery, 1), cause: s.cause },
  };
}

export const doorLock: Profile<DoorLockState> = {
  name: 'door-lock',
  prefix: 'lock',
  // Checked every 5 s; a state goes out on a change or when a minute passed since the last one.
  intervalMs: 5_000,
  init: (_id, rng, now) => ({
    locked: rng.chance(0.8),
    door: 'closed',
    battery: rng.between(40, 100),
    // Spread the first heartbeats over the first minute.
    lastStateAt: now - rng.between(0, HEARTBEAT_MS),
    cause: 'heartbeat',
  }),
  tick: (s, id, now, rng) => {
    s.battery = Math.max(0, s.battery - 0.0005);
    let changed = false;
    if (rng.chance(0.02)) {
      // Someone uses the door: unlock, open, close, lock again over the next ticks.
      if (s.door === 'open') {
        s.door = 'closed';
      } else if (s.locked) {
        s.locked = false;
      } else if (rng.chance(0.5)) {
        s.door = 'open';
      } else {
        s.locked = true;
      }
      changed = true;
    }
    if (!changed && now - s.lastStateAt < HEARTBEAT_MS) return { messages: [] };
    s.cause = changed ? 'change' : 'heartbeat';
    s.lastStateAt = now;
    return { messages: [state(s, id)] };
  },
  commandTopic: (id) => `devices/${id}/command`,
  onCommand: (s, id, payload, now) => {
    let cmd: { id?: unknown; cmd?: unknown } = {};
    try {
      cmd = JSON.parse(payload.toString('utf8')) as typeof cmd;
    } catch {
      // A malformed command is answered with an error, as a real lock firmware would.
    }
    const reply = (result: string): ProfileMessage => ({
      topic: `devices/${id}/command/reply`,
      body: { cmd_id: typeof cmd.id === 'string' || typeof cmd.id === 'number' ? cmd.id : null, result },
    });
    if (cmd.cmd !== 'lock' && cmd.cmd !== 'unlock' && cmd.cmd !== 'status') return [reply('error: unknown command')];
    if (cmd.cmd === 'lock' && s.door === 'open') return [reply('error: door open'), state(s, id)];
    if (cmd.cmd !== 'status') s.locked = cmd.cmd === 'lock';
    s.cause = 'command';
    s.lastStateAt = now;
    return [reply('ok'), state(s, id)];
  },
};
