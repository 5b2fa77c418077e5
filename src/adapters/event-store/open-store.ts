// Picks the event store adapter from configuration: PostgreSQL when a URL is given, else embedded PGlite.
import { mkdirSync } from 'node:fs';
import { createPgliteClient } from './pglite/pglite-client.js';
import { createPostgresClient } from './postgres/postgres-client.js';
import { GROUP_COMMIT_DEFAULTS } from './sql/group-commit.js';
import type { SqlClient } from './sql/sql-client.js';
import { SqlEventStore } from './sql/sql-event-store.js';
import type { QuorumGateOptions } from './sql/quorum-gate.js';

export type StoreTarget =
  | { kind: 'postgres'; url: string; poolMax: number }
  // No dataDir: in memory. `client`: a PGlite client opened by the caller (who keeps raw SQL on the same
  // database: PGlite is one connection); the store closes it.
  | { kind: 'pglite'; dataDir?: string; client?: SqlClient };

/** A SQL client on the target, without the event store on it (the read store). */
export async function openSqlClient(target: StoreTarget, applicationName = 'chronicle-read-store'): Promise<SqlClient> {
  if (target.kind === 'postgres') return createPostgresClient({ connectionString: target.url, poolMax: target.poolMax, applicationName });
  if (target.client) return target.client;
  if (target.dataDir !== undefined) mkdirSync(target.dataDir, { recursive: true });
  return createPgliteClient(target.dataDir);
}

export async function openEventStore(
  target: StoreTarget, options: { onGroupCommitFlush?: (appends: number) => void; quorum?: QuorumGateOptions } = {},
): Promise<SqlEventStore> {
  const groupCommit = { ...GROUP_COMMIT_DEFAULTS, ...(options.onGroupCommitFlush ? { onFlush: options.onGroupCommitFlush } : {}) };
  if (target.kind === 'postgres') {
    return SqlEventStore.open(createPostgresClient({ connectionString: target.url, poolMax: target.poolMax }), {
      groupCommit, ...(options.quorum ? { quorum: options.quorum } : {}),
    });
  }
  // PGlite runs one statement at a time: a second flush in flight would only wait, holding appends that
  // could have joined the next batch.
  const single = { ...groupCommit, flushesMax: 1 };
  if (target.client) return SqlEventStore.open(target.client, { groupCommit: single });
  if (target.dataDir !== undefined) mkdirSync(target.dataDir, { recursive: true });
  return SqlEventStore.open(await createPgliteClient(target.dataDir), { groupCommit: single });
}
