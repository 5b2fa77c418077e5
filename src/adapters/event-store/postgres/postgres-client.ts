import pg from 'pg';
import { DB_CONNECT_TIMEOUT_MS } from '../../../domain/limits.js';
import { CommitOutcomeUnknownError, isUnavailableError } from '../../../ports/unavailable.js';
import type { SqlClient, SqlQueryable, SqlSession } from '../sql/sql-client.js';

interface PostgresClientOptions {
  connectionString: string;
  /** Connections in the pool. */
  poolMax: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

const ignore = () => {};

/**
 * The server's WARNING when a COMMIT's wait for synchronous replication is cancelled (pg_cancel_backend, a
 * statement timeout) or cut short by pg_terminate_backend: "canceling wait for synchronous replication …
 * The transaction has already committed locally, but might not have been replicated to the standby". The
 * COMMIT then returns success (or the connection ends), yet the commit is on the primary only: a failover
 * may erase it. Recognised by the reporting routine (stable whatever the server's lc_messages), else by
 * its English text.
 */
export function isSyncRepCancelled(notice: { severity?: string; routine?: string; message?: string; detail?: string }): boolean {
  if (notice.routine === 'SyncRepWaitForLSN') return true;
  return /synchronous replication/i.test(notice.message ?? '') && /committed locally/i.test(notice.detail ?? '');
}

/** Watches a held client's notices for a cancelled wait for synchronous replication, until stopped. */
function watchSyncRep(client: pg.PoolClient): { cancelled(): boolean; stop(): void } {
  let seen = false;
  const onNotice = (notice: { severity?: string; routine?: string; message?: string; detail?: string }) => {
    if (isSyncRepCancelled(notice)) seen = true;
  };
  client.on('notice', onNotice);
  return { cancelled: () => seen, stop: () => client.removeListener('notice', onNotice) };
}

const NOT_REPLICATED = 'the COMMIT returned after its wait for synchronous replication was cancelled: committed on the primary only, and a failover may erase it';

/** node-postgres behind the SqlClient shape: a pool for statements, one checked-out client per transaction. */
export function createPostgresClient(options: PostgresClientOptions): SqlClient {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolMax,
    application_name: options.applicationName ?? 'chronicle-ledger',
    // A server that accepts the socket but never answers must not hold a request (or a lease keeper) forever.
    connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS,
    keepAlive: true,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener Node would crash.
  // The next query gets a fresh connection, so there is nothing to do but not die.
  pool.on('error', ignore);
  // pg-pool listens for errors only while a client is idle: a client held by transaction() or session()
  // emits 'error' on itself when the server goes away (a restart: 57P01, 'Connection terminated
  // unexpectedly'), and with no listener that kills the process. This one is on every client for its whole
  // life; the statement in flight is rejected anyway, and the client is discarded when released (below).
  pool.on('connect', (client) => client.on('error', ignore));

  const queryable = (runner: pg.Pool | pg.PoolClient): SqlQueryable => ({
    async query<Row>(text: string, params?: readonly unknown[], name?: string) {
      const result = await runner.query({ text, values: params as unknown[] | undefined, ...(name === undefined ? {} : { name }) });
      return result.rows as Row[];
    },
    async exec(sql: string) {
      await runner.query(sql);
    },
  });

  /**
   * A statement that commits on its own. The connection is checked out first: a failure to get one means
   * nothing was sent (a plain outage). Once sent, a lost connection may have come before or after the
   * commit, and a cancelled wait for synchronous replication left it on the primary only: either way the
   * outcome is unknown, and said so.
   */
  const queryCommitting = async <Row>(text: string, params?: readonly unknown[], name?: string): Promise<Row[]> => {
    const held = await checkOut();
    const syncRep = watchSyncRep(held.client);
    let broken: Error | undefined;
    try {
      const result = await held.client.query({ text, values: params as unknown[] | undefined, ...(name === undefined ? {} : { name }) });
      if (syncRep.cancelled()) throw new CommitOutcomeUnknownError(NOT_REPLICATED);
      return result.rows as Row[];
    } catch (error) {
      if (isUnavailableError(error) && !(error instanceof CommitOutcomeUnknownError)) {
        broken = error as Error;
        throw new CommitOutcomeUnknownError(`the connection was lost while a write committed: it may or may not have committed (${(error as Error).message})`, { cause: error });
      }
      throw error;
    } finally {
      syncRep.stop();
      held.release(broken);
    }
  };

  /** A client checked out with a record of whether its connection broke while held. */
  const checkOut = async () => {
    const client = await pool.connect();
    const lost = new AbortController();
    const onLost = (error?: Error) => lost.abort(error ?? new Error('Connection terminated unexpectedly'));
    client.on('error', onLost);
    client.on('end', onLost);
    return {
      client,
      lost: lost.signal,
      /** Back to the pool, or destroyed when it broke (a broken client must never serve the next user). */
      release(error?: Error) {
        client.removeListener('error', onLost);
        client.removeListener('end', onLost);
        client.release(error ?? (lost.signal.aborted ? (lost.signal.reason as Error) : undefined));
      },
    };
  };

  return {
    dialect: 'postgres',
    ...queryable(pool),
    queryCommitting,
    async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      const held = await checkOut();
      let broken: Error | undefined;
      try {
        await held.client.query('BEGIN');
        const result = await fn(queryable(held.client));
        const syncRep = watchSyncRep(held.client);
        try {
          await held.client.query('COMMIT');
          if (syncRep.cancelled()) throw new CommitOutcomeUnknownError(NOT_REPLICATED);
        } catch (error) {
          if (error instanceof CommitOutcomeUnknownError) throw error;
          // The connection went while COMMIT was on its way: the server may have committed or not, and
          // nothing here can tell. Never retried blindly: said so, for the caller to look it up or report.
          if (isUnavailableError(error)) {
            broken = error as Error;
            throw new CommitOutcomeUnknownError(`the connection was lost during COMMIT: the transaction may or may not have committed (${(error as Error).message})`, { cause: error });
          }
          throw error;
        } finally {
          syncRep.stop();
        }
        return result;
      } catch (error) {
        if (broken === undefined && isUnavailableError(error)) broken = error as Error;
        if (broken === undefined && !held.lost.aborted) await held.client.query('ROLLBACK').catch((e: Error) => { broken = e; });
        throw error;
      } finally {
        held.release(broken);
      }
    },
    async session<T>(fn: (connection: SqlSession) => Promise<T>): Promise<T> {
      const held = await checkOut();
      let broken: Error | undefined;
      try {
        return await fn({ ...queryable(held.client), lost: held.lost });
      } catch (error) {
        broken = error as Error;
        throw error;
      } finally {
        // Session state (advisory locks) must not leak to the pool's next user: a failed session's
        // connection is discarded, a good one has its locks released first.
        if (broken === undefined && !held.lost.aborted) await held.client.query('SELECT pg_advisory_unlock_all()').catch((error: Error) => { broken = error; });
        held.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
