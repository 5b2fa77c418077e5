// API keys in the event store's database (PostgreSQL or PGlite, through SqlClient). The table is migration
// 6 of the event store (src/adapters/event-store/sql/migrations/006-api-keys.sql); the statements are in
// api-key-store.sql.
import type { SqlClient } from '../event-store/sql/sql-client.js';
import { namedQueries } from '../event-store/sql/sql-files.js';
import type { ApiKeyRecord, ApiKeyStore, KeyRole, NewApiKey } from '../../ports/api-key-store.js';

// Any fixed number, distinct from the migration lock's: serialises the "no key yet?" check of processes
// starting at once, so only one of them stores the first admin key.
const BOOTSTRAP_LOCK_KEY = 4_171_977_006;

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const COLUMNS = `id, name, role, key_hash, to_char(created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at, created_by,
  to_char(revoked_at AT TIME ZONE 'UTC', ${ISO}) AS revoked_at`;

interface Row {
  id: string;
  name: string;
  role: string;
  key_hash: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
}

const recordOf = (row: Row): ApiKeyRecord => ({
  id: row.id, name: row.name, role: row.role as KeyRole, keyHash: row.key_hash,
  createdAt: row.created_at, createdBy: row.created_by, revokedAt: row.revoked_at,
});

const Q = namedQueries(new URL('./api-key-store.sql', import.meta.url), [
  'find', 'list', 'insert', 'bootstrap_lock', 'any_key', 'revoke',
], { columns: COLUMNS });
const paramsOf = (key: NewApiKey) => [key.id, key.name, key.role, key.keyHash, key.createdBy];

export class SqlApiKeyStore implements ApiKeyStore {
  /** On a database the event store has migrated (it owns the table). */
  constructor(private readonly db: SqlClient) {}

  async find(id: string): Promise<ApiKeyRecord | null> {
    const rows = await this.db.query<Row>(Q.find, [id], 'chronicle_api_key_find');
    return rows[0] ? recordOf(rows[0]) : null;
  }

  async list(limit: number): Promise<ApiKeyRecord[]> {
    const rows = await this.db.query<Row>(Q.list, [limit]);
    return rows.map(recordOf);
  }

  async insert(key: NewApiKey): Promise<ApiKeyRecord> {
    const rows = await this.db.query<Row>(Q.insert, paramsOf(key));
    return recordOf(rows[0]!);
  }

  async insertIfNone(key: NewApiKey): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // A plain INSERT ... WHERE NOT EXISTS is not enough under READ COMMITTED: two transactions would both
      // see an empty table. The lock makes the second wait, then see the first one's key.
      await tx.query(Q.bootstrap_lock, [BOOTSTRAP_LOCK_KEY]);
      const any = await tx.query(Q.any_key);
      if (any.length > 0) return false;
      await tx.query(Q.insert, paramsOf(key));
      return true;
    });
  }

  async revoke(id: string): Promise<ApiKeyRecord | null> {
    const rows = await this.db.query<Row>(Q.revoke, [id]);
    return rows[0] ? recordOf(rows[0]) : null;
  }
}
