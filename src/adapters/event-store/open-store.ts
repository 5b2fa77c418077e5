// Picks the event store adapter from configuration: PostgreSQL when a URL is given, else embedded PGlite.
import { mkdirSync } from 'node:fs';
import { createPgliteClient } from './pglite/pglite-client.js';
import { createPostgresClient } from './postgres/postgres-client.js';
import { SqlEventStore } from './sql/sql-event-store.js';

export type StoreTarget =
  | { kind: 'postgres'; url: string; poolMax: number }
  | { kind: 'pglite'; dataDir?: string }; // no dataDir: in memory

export async function openEventStore(target: StoreTarget): Promise<SqlEventStore> {
  if (target.kind === 'postgres') {
    return SqlEventStore.open(createPostgresClient({ connectionString: target.url, poolMax: target.poolMax }));
  }
  if (target.dataDir !== undefined) mkdirSync(target.dataDir, { recursive: true });
  return SqlEventStore.open(await createPgliteClient(target.dataDir));
}
