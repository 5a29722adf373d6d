// Sessions end when their credential does. At CONNECT the accepted credential's end is noted (a token's exp plus the
// clock tolerance, a webhook answer's expire_at, the verified client certificate's notAfter: the earliest of them)
// and one timer is armed for that session; it is cleared when the connection closes. When it fires the session is
// closed with reason auth_expired. No sweep over all clients: one timer per session that has an end.
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';

/** setTimeout's largest delay (2^31-1 ms, about 24.8 days); a later end is reached in steps of it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the timers need of a session: its connection, to clear the timer when it closes. */
export interface ExpiringSession {
  readonly id: string;
  readonly closed?: boolean;
  readonly conn: { once(event: 'close', listener: () => void): unknown; destroyed?: boolean };
}

export interface SessionExpiryContext {
  /** Closes a session whose credential ended (the broker marks it auth_expired). */
  expire: (session: ExpiringSession) => void;
  log: Pick<Logger, 'info'>;
}

/** The end (ms since the epoch) of the verified client certificate on a TLS connection, if there is one. */
export function certificateEnd(conn: unknown): number | undefined {
  if (!(conn instanceof TLSSocket) || !conn.authorized) return undefined;
  const end = Date.parse(conn.getPeerCertificate().valid_to ?? '');
  return Number.isFinite(end) ? end : undefined;
}

/** The earliest of the given ends; undefined when none is given. */
export function earliest(...ends: (number | undefined)[]): number | undefined {
  const known = ends.filter((e): e is number => e !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

export class SessionExpiry {
  private readonly ctx: SessionExpiryContext;
  private readonly timers = new Map<ExpiringSession, NodeJS.Timeout>();

  constructor(ctx: SessionExpiryContext) {
    this.ctx = ctx;
  }

  /** Sessions with a timer armed now. */
  get armed(): number {
    return this.timers.size;
  }

  /** Arms the session's timer for `endsAt` (ms since the epoch); no end, no timer. Call once, when it is accepted. */
  arm(session: ExpiringSession, endsAt: number | undefined, what: string): void {
    if (endsAt === undefined || session.closed || session.conn.destroyed) return;
    session.conn.once('close', () => this.disarm(session));
    this.schedule(session, endsAt, what);
  }

  private schedule(session: ExpiringSession, endsAt: number, what: string): void {
    const delay = Math.max(0, endsAt - Date.now());
    const timer = setTimeout(
      () => {
        this.timers.delete(session);
        // Farther than one timer reaches: wait again from here.
        if (delay > MAX_TIMER_MS) return this.schedule(session, endsAt, what);
        this.ctx.log.info(
          { client: session.id, credential: what, expiredAt: new Date(endsAt).toISOString() },
          'session closed: its credential expired',
        );
        this.ctx.expire(session);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    // The timers never keep the process alive on their own.
    timer.unref();
    this.timers.set(session, timer);
  }

  /** Clears the session's timer (its connection closed). */
  disarm(session: ExpiringSession): void {
    const t = this.timers.get(session);
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(session);
  }
}
