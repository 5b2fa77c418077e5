// Raw SQL on a ledger's database, for tests that look past the ports (counting rows, tampering, checking what
// the database itself refuses). The ledger exposes ports only; a test opens its database here and keeps a
// handle of its own.
import type { StoreTarget } from '../../src/adapters/event-store/open-store.js';
import { createPgliteClient, pgliteClient } from '../../src/adapters/event-store/pglite/pglite-client.js';
import { createPostgresClient } from '../../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../../src/adapters/event-store/sql/sql-client.js';
import { freshPglite } from './stores.js';

export interface SqlAccess {
  /** What to open the ledger on. */
  target: StoreTarget;
  /** Raw SQL on the same database. */
  sql: SqlClient;
  /** Closes the raw handle (a no-op on PGlite: the ledger closes its one connection). */
  close(): Promise<void>;
}

/**
 * An embedded database (PGlite, in memory) for a ledger, and raw SQL on it. PGlite is one connection, so the
 * handle is the ledger's own client: usable until the ledger closes.
 */
export async function embeddedDatabase(dataDir?: string): Promise<SqlAccess> {
  // In memory: a copy of a migrated template (test/support/stores.ts), not a new initdb.
  const sql = dataDir === undefined ? pgliteClient(await freshPglite()) : await createPgliteClient(dataDir);
  return { target: { kind: 'pglite', client: sql }, sql, close: async () => {} };
}

/** Raw SQL on a PostgreSQL database by URL, on a small pool of its own. */
export function postgresDatabase(url: string, poolMax = 8): SqlAccess {
  const sql = createPostgresClient({ connectionString: url, poolMax: 2 });
  return { target: { kind: 'postgres', url, poolMax }, sql, close: () => sql.close() };
}

/** The database a target names (a PGlite directory, or PostgreSQL by URL), opened for a ledger and for raw SQL. */
export const sqlAccessTo = (target: StoreTarget): Promise<SqlAccess> =>
  target.kind === 'postgres' ? Promise.resolve(postgresDatabase(target.url, target.poolMax)) : embeddedDatabase(target.dataDir);

/** Either: PostgreSQL when a test database URL is given, else embedded. */
export const testDatabase = (url: string | undefined, poolMax?: number): Promise<SqlAccess> =>
  url === undefined ? embeddedDatabase() : Promise.resolve(postgresDatabase(url, poolMax));

/** Rows in `events` (the table, not $all). */
export const countEvents = async (sql: Pick<SqlClient, 'query'>, streamId?: string): Promise<number> =>
  Number((await sql.query<{ n: string }>(
    streamId === undefined ? 'SELECT count(*)::text AS n FROM events' : 'SELECT count(*)::text AS n FROM events WHERE stream_id = $1',
    streamId === undefined ? [] : [streamId],
  ))[0]!.n);
