import { MIGRATIONS } from './migrations.js';
import type { SqlClient } from './sql-client.js';

// Any fixed number: the advisory lock that lets several processes start against one database at once.
const MIGRATION_LOCK_KEY = 4_171_977_001;

/**
 * Applies the migrations not yet applied (up to `throughVersion`: tests build an older schema with it), all in
 * one transaction under an advisory lock. Idempotent.
 */
export async function migrate(db: SqlClient, throughVersion = Number.POSITIVE_INFINITY): Promise<number[]> {
  const applied: number[] = [];
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const done = new Set(
      (await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
    );
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version) || migration.version > throughVersion) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
  });
  return applied;
}
