import pg from 'pg';
import type { SqlClient, SqlQueryable } from '../sql/sql-client.js';

export interface PostgresClientOptions {
  connectionString: string;
  /** Connections in the pool. */
  poolMax: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

/** node-postgres behind the SqlClient shape: a pool for statements, one checked-out client per transaction. */
export function createPostgresClient(options: PostgresClientOptions): SqlClient {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolMax,
    application_name: options.applicationName ?? 'chronicle-ledger',
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener Node would crash.
  // The next query gets a fresh connection, so there is nothing to do but not die.
  pool.on('error', () => {});

  const queryable = (runner: pg.Pool | pg.PoolClient): SqlQueryable => ({
    async query<Row>(text: string, params?: readonly unknown[], name?: string) {
      const result = await runner.query({ text, values: params as unknown[] | undefined, ...(name === undefined ? {} : { name }) });
      return result.rows as Row[];
    },
    async exec(sql: string) {
      await runner.query(sql);
    },
  });

  return {
    dialect: 'postgres',
    ...queryable(pool),
    async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(queryable(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async session<T>(fn: (connection: SqlQueryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await fn(queryable(client));
      } catch (error) {
        broken = error as Error;
        throw error;
      } finally {
        // Session state (advisory locks) must not leak to the pool's next user: a failed session's
        // connection is discarded, a good one has its locks released first.
        if (broken === undefined) await client.query('SELECT pg_advisory_unlock_all()').catch((error: Error) => { broken = error; });
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
