// The event store's schema, as ordered migrations applied once each at start-up (see migrate.ts): one .sql
// file per migration in ./migrations/, listed here with the name recorded in schema_migrations. Written for
// PostgreSQL 15+ and PGlite (the same SQL runs on both). docs/schema.sql shows the result of all of them.
// Never edit a migration that has shipped (test/sql-files.unit.test.ts holds their SHA-256): add a new one.
import { sqlFile } from './sql-files.js';

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const migration = (version: number, name: string, file: string): Migration =>
  ({ version, name, sql: sqlFile(new URL(`./migrations/${file}`, import.meta.url)) });

export const MIGRATIONS: readonly Migration[] = [
  migration(1, 'events, streams, snapshots, idempotency keys', '001-events-streams-snapshots-idempotency-keys.sql'),
  migration(2, 'append fast path guard', '002-append-fast-path-guard.sql'),
  migration(3, 'relay checkpoints', '003-relay-checkpoints.sql'),
  migration(4, 'per-stream hash chain', '004-per-stream-hash-chain.sql'),
  migration(5, 'merkle log and signed checkpoints', '005-merkle-log-and-signed-checkpoints.sql'),
  migration(6, 'api keys', '006-api-keys.sql'),
  // Made $all's order a counter row's (docs/architecture.md, "Global order").
  migration(7, 'global positions in commit order', '007-global-positions-in-commit-order.sql'),
  // The checkpoint signing keys' public halves, so a verifier reads the ledger's key from the store.
  migration(8, 'signing keys', '008-signing-keys.sql'),
];
