// One holder at a time of a named role (the relay of a stream, the read processor of a projection, the
// sealer), across processes: a session-level PostgreSQL advisory lock held on a connection of its own for as
// long as the holder runs. A second process asking for the same lease waits as a hot standby and takes over
// when the holder's connection goes (its process ended, or was killed: PostgreSQL ends the session and drops
// the lock).
//
// The lock dies with its connection, and so does the lease: when the database restarts, or the socket is
// cut, the holder learns it (the connection's 'error'/'end', or a check every LEASE_CHECK_INTERVAL_MS that
// fails or takes longer than LEASE_CHECK_TIMEOUT_MS), stops acting as the holder (the signal it was given
// aborts, and it is waited for), and competes again, with backoff while the database does not answer:
// someone else may have taken over meanwhile, so it may well come back as a standby.
//
// Not a fencing token: a holder cut off from PostgreSQL keeps running until it notices. What it does
// meanwhile is safe here: a second relay's publishes are deduplicated by event id, a second read processor's
// writes are idempotent, the sealer's writes are keyed by the log's size; the lease keeps that the
// exception, not the rule. Statements: queries/lease.sql.
import { abortableSleep } from '../../../lib/abortable-sleep.js';
import { LEASE_CHECK_INTERVAL_MS, LEASE_CHECK_TIMEOUT_MS, LEASE_RETRY_MS, OUTAGE_RETRY_MAX_MS, OUTAGE_RETRY_MIN_MS } from '../../../domain/limits.js';
import { isUnavailableError } from '../../../ports/unavailable.js';
import type { LeaseCallbacks, Leases } from '../../../ports/lease.js';
import type { SqlClient, SqlSession } from './sql-client.js';
import { namedQueries } from './sql-files.js';

export interface LeaseOptions {
  signal: AbortSignal;
  /** How often a standby asks again (default LEASE_RETRY_MS). */
  retryMs?: number;
  /** Once, when the lease is held by another process and this one starts waiting. */
  onStandby?: () => void;
}

export interface KeepLeaseOptions extends LeaseOptions, LeaseCallbacks {
  /** How often the holder checks its connection (default LEASE_CHECK_INTERVAL_MS). */
  checkIntervalMs?: number;
}

/** The lease's connection went while it was held. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

const Q = namedQueries(new URL('./queries/lease.sql', import.meta.url), ['try_lock', 'unlock', 'check_connection']);

const leaseKey = (name: string) => `chronicle-lease:${name}`;

/** Asks until the lease is held (true) or the signal aborts (false); the session throws when its connection goes. */
async function acquire(session: SqlSession, key: string, options: LeaseOptions, told: { standby: boolean }): Promise<boolean> {
  for (;;) {
    if (options.signal.aborted) return false;
    if (session.lost?.aborted) throw new LeaseLostError('the lease connection was lost while standing by', { cause: session.lost.reason });
    const rows = await session.query<{ held: boolean }>(Q.try_lock, [key]);
    if (rows[0]?.held) return true;
    if (!told.standby) {
      told.standby = true;
      options.onStandby?.();
    }
    await abortableSleep(options.retryMs ?? LEASE_RETRY_MS, session.lost ? AbortSignal.any([options.signal, session.lost]) : options.signal);
  }
}

/**
 * Runs `fn` while holding the lease `name`, once; waits for it first if another process holds it. Resolves
 * with fn's result, or undefined when the signal aborted while waiting. For one-shot holders; long-running
 * roles use keepLease, which takes the lease again after losing it.
 */
export async function withLease<T>(db: SqlClient, name: string, options: LeaseOptions, fn: () => Promise<T>): Promise<T | undefined> {
  const key = leaseKey(name);
  return db.session(async (session) => {
    if (!(await acquire(session, key, options, { standby: false }))) return undefined;
    try {
      return await fn();
    } finally {
      if (!session.lost?.aborted) await session.query(Q.unlock, [key]).catch(() => {});
    }
  });
}

/**
 * Holds the lease `name` whenever it can until `options.signal` aborts, running `fn(held)` each time it
 * holds it. `held` aborts when the lease is lost (or on options.signal); fn must then return, and is waited
 * for before the lease is asked for again. Connection errors (src/ports/unavailable.ts) and lost leases are
 * retried with backoff; any other error from fn or the database ends it (rejects).
 */
export async function keepLease(db: SqlClient, name: string, options: KeepLeaseOptions, fn: (held: AbortSignal) => Promise<void>): Promise<void> {
  const key = leaseKey(name);
  const told = { standby: false };
  let delayMs = OUTAGE_RETRY_MIN_MS;
  while (!options.signal.aborted) {
    try {
      await db.session(async (session) => {
        if (!(await acquire(session, key, options, told))) return;
        told.standby = false;
        delayMs = OUTAGE_RETRY_MIN_MS;
        options.onAcquired?.();
        const check = new AbortController();
        const held = AbortSignal.any([options.signal, check.signal, ...(session.lost ? [session.lost] : [])]);
        const checking = checkConnection(session, held, options.checkIntervalMs ?? LEASE_CHECK_INTERVAL_MS)
          .catch((error: unknown) => check.abort(error));
        try {
          await fn(held);
        } finally {
          check.abort();
          await checking;
        }
        if (options.signal.aborted) {
          if (!session.lost?.aborted) await session.query(Q.unlock, [key]).catch(() => {});
          return;
        }
        // fn returned while this process was to go on holding: its lease went (or fn gave up on its own).
        const reason = session.lost?.aborted ? session.lost.reason : check.signal.reason;
        throw new LeaseLostError(`lease ${name} lost: ${(reason as Error | undefined)?.message ?? 'its holder returned'}`, { cause: reason });
      });
    } catch (error) {
      if (options.signal.aborted) return;
      if (!(error instanceof LeaseLostError) && !isUnavailableError(error)) throw error;
      options.onLost?.(error);
      told.standby = false; // a standby again after this is news: say so
      await abortableSleep(delayMs, options.signal);
      delayMs = Math.min(delayMs * 2, OUTAGE_RETRY_MAX_MS);
    }
  }
}

/** The Leases port on a database: every lease a session-level advisory lock on a connection of its own. */
export const sqlLeases = (db: SqlClient): Leases => ({
  keep: (name, options, fn) => keepLease(db, name, options, fn),
});

/** Rejects when the session stops answering (an error, or no answer within LEASE_CHECK_TIMEOUT_MS); resolves when `until` aborts. */
async function checkConnection(session: SqlSession, until: AbortSignal, intervalMs: number): Promise<void> {
  for (;;) {
    await abortableSleep(intervalMs, until);
    if (until.aborted) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        session.query(Q.check_connection),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LeaseLostError(`the lease connection did not answer within ${LEASE_CHECK_TIMEOUT_MS} ms`)), LEASE_CHECK_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
