import { PGlite } from '@electric-sql/pglite';
import type { SqlClient, SqlQueryable } from '../sql/sql-client.js';

/**
 * PGlite (PostgreSQL compiled to WebAssembly, in-process) behind the SqlClient shape. `dataDir` undefined
 * keeps everything in memory (tests); a path persists it. PGlite has one connection and runs one statement
 * at a time; it queues the rest, so concurrency here is correct but serial.
 */
export async function createPgliteClient(dataDir?: string): Promise<SqlClient> {
  return pgliteClient(await PGlite.create(dataDir === undefined ? {} : { dataDir }));
}

/** Wraps an open PGlite instance (tests clone a migrated template instead of creating one each time). */
export function pgliteClient(db: PGlite): SqlClient {
  const queryable = (runner: Pick<PGlite, 'query' | 'exec'>): SqlQueryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await runner.query<Row>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(sql: string) {
      await runner.exec(sql);
    },
  });
  return {
    dialect: 'pglite',
    ...queryable(db),
    transaction: <T>(fn: (tx: SqlQueryable) => Promise<T>) => db.transaction((tx) => fn(queryable(tx))),
    session: <T>(fn: (connection: SqlQueryable) => Promise<T>) => fn(queryable(db)),
    async close() {
      await db.close();
    },
  };
}
