// The relay's checkpoint in the event store's own database (PostgreSQL or PGlite, through SqlClient):
// one row per relay name. Kept beside the events so a backup of the store carries the relay's position.
// The table is migration 3 of the event store (src/adapters/event-store/sql/migrations.ts).
import type { SqlClient } from '../../event-store/sql/sql-client.js';
import { toSafeNumber } from '../../event-store/sql/sql-event-store.js';
import type { RelayCheckpointStore } from '../../../application/relay.js';

export class SqlRelayCheckpoints implements RelayCheckpointStore {
  private constructor(private readonly db: SqlClient) {}

  /** On a database the event store has migrated (it owns the table). */
  static async open(db: SqlClient): Promise<SqlRelayCheckpoints> {
    return new SqlRelayCheckpoints(db);
  }

  async load(name: string): Promise<number | null> {
    const rows = await this.db.query<{ position: string }>(
      'SELECT position::text AS position FROM relay_checkpoints WHERE name = $1', [name], 'chronicle_relay_checkpoint_load',
    );
    return rows[0] ? toSafeNumber(rows[0].position) : null;
  }

  async save(name: string, position: number): Promise<void> {
    await this.db.query(
      `INSERT INTO relay_checkpoints (name, position, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`,
      [name, position], 'chronicle_relay_checkpoint_save',
    );
  }
}

/**
 * Counts the events of `$all` after a position (at most `max`), as readAll would list them, without
 * reading them: the relay's lag for metrics. Uses the commit-order index (transaction_id, global_position).
 */
export function sqlCountEventsAfter(db: SqlClient): (position: number, max: number) => Promise<number> {
  return async (position, max) => {
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (
         SELECT 1 FROM events e
          WHERE (e.transaction_id, e.global_position) >
                (COALESCE((SELECT transaction_id FROM events WHERE global_position = $1), '0'::xid8), $1::bigint)
            AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          LIMIT $2) behind`,
      [position, max], 'chronicle_relay_count_after',
    );
    return Number(rows[0]?.n ?? 0);
  };
}
