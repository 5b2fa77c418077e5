// One answer to "is this error an outage of something we depend on, or a bug?", for every layer: the HTTP
// error handler (503 `unavailable` with Retry-After instead of 500), the loops that must back off and retry
// instead of dying (relay, read processor, sealer, lease keepers), and the read processor, which must not
// count an outage as a failed delivery (that would dead-letter good events).
//
// It reads error *shapes* (an errno code, a SQLSTATE, an error name, a driver's fixed message), not driver
// classes, so nothing here imports pg or nats; the drivers' facts it relies on are named beside each list.

/** Socket errors of a connection that could not be made or was cut (Node's errno codes). */
const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTCONN',
]);

/**
 * SQLSTATEs of a server going away or refusing sessions: 57P01 admin_shutdown (`pg_ctl stop -m fast`),
 * 57P02 crash_shutdown (`-m immediate`, another backend crashed), 57P03 cannot_connect_now (starting up,
 * shutting down, in recovery), 53300 too_many_connections. Class 08 (connection exception) is matched whole.
 */
const SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * node-postgres raises these as plain Errors with no code: the socket ended under a client (pg/lib/client.js),
 * a connect that timed out (connectionTimeoutMillis: pg and pg-pool), a client already broken.
 */
const PG_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/**
 * NATS.js error names (@nats-io/nats-core lib/errors.js) of a server that is gone or not answering: a lost
 * or closed connection, a request with no answer in time, JetStream not (yet) serving (no responders).
 */
const NATS_NAMES: ReadonlySet<string> = new Set(['ConnectionError', 'ClosedConnectionError', 'TimeoutError', 'NoResponders', 'NoRespondersError']);

/**
 * A write whose outcome cannot be known now: its connection was lost while it committed (it may or may not
 * have committed), or its COMMIT returned after its wait for synchronous replication was cancelled (committed
 * on the primary only: a failover may erase it), or the stored answer a retry would replay is not yet durable
 * on the synchronous standbys. Never retried blindly and never reported as done; the HTTP API answers 503
 * `outcome_unknown`: retry with the same Idempotency-Key, and that retry answers the truth.
 */
export class CommitOutcomeUnknownError extends Error {
  override readonly name = 'CommitOutcomeUnknownError';
}

/**
 * A read that would show events not yet durable on the synchronous standbys, and that cannot simply return
 * fewer events (the newest events of `$all`): the standbys did not confirm them within the bound. An outage
 * of the quorum, answered like one (503, retry).
 */
export class QuorumNotReachedError extends Error {
  override readonly name = 'QuorumNotReachedError';
}

/** The dependency's own error, or the one it wraps (`cause`, AggregateError's `errors`), is an outage. */
export function isUnavailableError(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return false;
    seen.add(e);
    if (e instanceof CommitOutcomeUnknownError || e instanceof QuorumNotReachedError) return true;
    const { code, name, message, cause, errors } = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') {
      if (SOCKET_CODES.has(code) || SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    if (typeof name === 'string' && NATS_NAMES.has(name)) return true;
    if (typeof message === 'string' && PG_MESSAGES.some((m) => message.includes(m))) return true;
    if (Array.isArray(errors) && errors.some(visit)) return true;
    return visit(cause);
  };
  return visit(error);
}
