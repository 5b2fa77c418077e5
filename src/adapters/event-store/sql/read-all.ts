// Pages of $all in commit order (queries/read-all.sql), for every reader of the log: the event store, the
// relay's lag count and the verifier each read it with their own columns.
import type { SqlQueryable } from './sql-client.js';
import { toSafeNumber } from './event-rows.js';
import { namedQueries } from './sql-files.js';

const FILE = new URL('./queries/read-all.sql', import.meta.url);
const NAMES = ['read_all', 'legacy_transaction', 'read_legacy', 'read_after_legacy', 'legacy_through'] as const;

const LEGACY_THROUGH = namedQueries(FILE, NAMES, { columns: 'e.*' }).legacy_through;

/** The last position stored before migration 7 whose events keep their older order; 0 when there is none. */
export async function legacyThroughOf(db: SqlQueryable): Promise<number> {
  const rows = await db.query<{ legacy_through: string }>(LEGACY_THROUGH);
  return toSafeNumber(rows[0]?.legacy_through ?? '0');
}

/** Reads one page of `$all` after `afterPosition`, of at most `count` rows; null when that position names no event. */
type AllReader<Row> = (db: SqlQueryable, legacyThrough: number, afterPosition: number, count: number) => Promise<Row[] | null>;

/**
 * A reader of `$all` pages with the given select list (over events aliased `e`), its statements prepared
 * under `statementName` (and `_legacy`, `_after_legacy`). Make it once, at module level.
 */
export function allReader<Row>(columns: string, statementName: string): AllReader<Row> {
  const q = namedQueries(FILE, NAMES, { columns });
  return async (db, legacyThrough, afterPosition, count) => {
    if (legacyThrough === 0 || afterPosition > legacyThrough) {
      const rows = await db.query<Row & { head: string; in_page: boolean | null }>(q.read_all, [afterPosition, count], statementName);
      if (afterPosition > toSafeNumber(rows[0]?.head ?? '0')) return null;
      return rows.filter((r) => r.in_page === true);
    }
    let afterTransaction = '0';
    if (afterPosition > 0) {
      const found = await db.query<{ tx: string }>(q.legacy_transaction, [afterPosition]);
      if (found.length === 0) return null;
      afterTransaction = found[0]!.tx;
    }
    const legacy = await db.query<Row>(q.read_legacy, [afterTransaction, afterPosition, count, legacyThrough], `${statementName}_legacy`);
    if (legacy.length === count) return legacy;
    const rest = await db.query<Row>(q.read_after_legacy, [legacyThrough, count - legacy.length], `${statementName}_after_legacy`);
    return [...legacy, ...rest];
  };
}
