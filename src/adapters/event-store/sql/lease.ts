// One holder at a time of a named role (the relay of a stream, the read processor of a projection), across
// processes: a session-level PostgreSQL advisory lock held on a connection of its own for as long as the
// holder runs. A second process asking for the same lease waits as a hot standby and takes over when the
// holder's connection goes (its process ended, or was killed: PostgreSQL ends the session and drops the lock).
//
// Not a fencing token: a holder cut off from PostgreSQL keeps running until it notices. What it does
// meanwhile is safe here: a second relay's publishes are deduplicated by event id, a second read processor's
// writes are idempotent; the lease keeps that the exception, not the rule.
import { abortableSleep } from '../../../application/abortable-sleep.js';
import type { SqlClient } from './sql-client.js';

export interface LeaseOptions {
  signal: AbortSignal;
  /** How often a standby asks again. */
  retryMs?: number;
  /** Once, when the lease is held by another process and this one starts waiting. */
  onStandby?: () => void;
}

/**
 * Runs `fn` while holding the lease `name`; waits for it first if another process holds it. Resolves with
 * fn's result, or undefined when the signal aborted while waiting.
 */
export async function withLease<T>(db: SqlClient, name: string, options: LeaseOptions, fn: () => Promise<T>): Promise<T | undefined> {
  const key = `chronicle-lease:${name}`;
  return db.session(async (session) => {
    let told = false;
    for (;;) {
      if (options.signal.aborted) return undefined;
      const rows = await session.query<{ held: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS held', [key]);
      if (rows[0]?.held) break;
      if (!told) {
        told = true;
        options.onStandby?.();
      }
      await abortableSleep(options.retryMs ?? 1_000, options.signal);
    }
    try {
      return await fn();
    } finally {
      await session.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch(() => {});
    }
  });
}
