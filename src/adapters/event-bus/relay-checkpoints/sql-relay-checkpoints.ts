// The relay's checkpoint in the event store's own database (PostgreSQL or PGlite, through SqlClient):
// one row per relay name. Kept beside the events so a backup of the store carries the relay's position.
// The table is migration 3 of the event store (src/adapters/event-store/sql/migrations/); the statements are
// in relay-checkpoints.sql.
import type { SqlClient } from '../../event-store/sql/sql-client.js';
import { toSafeNumber } from '../../event-store/sql/event-rows.js';
import { allReader, legacyThroughOf } from '../../event-store/sql/read-all.js';
import { namedQueries } from '../../event-store/sql/sql-files.js';
import type { CountEventsAfter, RelayCheckpointStore } from '../../../ports/relay-checkpoints.js';

const Q = namedQueries(new URL('./relay-checkpoints.sql', import.meta.url), ['load', 'save', 'log_head']);

export class SqlRelayCheckpoints implements RelayCheckpointStore {
  private constructor(private readonly db: SqlClient) {}

  /** On a database the event store has migrated (it owns the table). */
  static async open(db: SqlClient): Promise<SqlRelayCheckpoints> {
    return new SqlRelayCheckpoints(db);
  }

  async load(name: string): Promise<number | null> {
    const rows = await this.db.query<{ position: string }>(Q.load, [name], 'chronicle_relay_checkpoint_load');
    return rows[0] ? toSafeNumber(rows[0].position) : null;
  }

  async save(name: string, position: number): Promise<void> {
    await this.db.query(Q.save, [name, position], 'chronicle_relay_checkpoint_save');
  }
}

const readPositions = allReader<{ global_position: string }>('e.global_position', 'chronicle_count_after');

/**
 * Counts the events of `$all` after a position (at most `max`), as readAll would list them, without
 * reading them: the relay's and the read model's lag for metrics. Positions are dense and in commit order
 * (migration 7), so past the legacy events it is the head's distance, one row read.
 */
export function sqlCountEventsAfter(db: SqlClient): CountEventsAfter {
  let legacy: number | undefined; // fixed by migration 7: read once it has been read successfully
  return async (position, max) => {
    legacy ??= await legacyThroughOf(db);
    const legacyThrough = legacy;
    if (legacyThrough === 0 || position > legacyThrough) {
      const rows = await db.query<{ head: string }>(Q.log_head, [], 'chronicle_log_head');
      return Math.min(max, Math.max(0, toSafeNumber(rows[0]?.head ?? '0') - position));
    }
    return (await readPositions(db, legacyThrough, position, max))?.length ?? 0;
  };
}
