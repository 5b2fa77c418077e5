// Pages of $all in commit order (queries/read-all.sql), for every reader of the log: the event store, the
// relay's lag count and the verifier each read it with their own columns.
import type { SqlQueryable } from './sql-client.js';
import { toSafeNumber } from './event-rows.js';
import { namedQueries } from './sql-files.js';
import { WAL_MARK_SQL, type WalMark } from './quorum-gate.js';

const FILE = new URL('./queries/read-all.sql', import.meta.url);
const NAMES = ['read_all', 'read_all_gated', 'legacy_transaction', 'read_legacy', 'read_after_legacy', 'legacy_through'] as const;

const LEGACY_THROUGH = namedQueries(FILE, NAMES, { columns: 'e.*', wal_mark: WAL_MARK_SQL }).legacy_through;

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
  const read = markedAllReader<Row>(columns, statementName, false);
  return async (db, legacyThrough, afterPosition, count) => (await read(db, legacyThrough, afterPosition, count))?.rows ?? null;
}

/**
 * allReader, and with `gated` the page's WAL mark (quorum-gate.ts) from the page's own statement: null on
 * the legacy path (whose reader then takes it with a statement of its own, after the read).
 */
export function markedAllReader<Row>(columns: string, statementName: string, gated: boolean) {
  const q = namedQueries(FILE, NAMES, { columns, wal_mark: WAL_MARK_SQL });
  return async (db: SqlQueryable, legacyThrough: number, afterPosition: number, count: number): Promise<{ rows: Row[]; mark: WalMark | null } | null> => {
    if (legacyThrough === 0 || afterPosition > legacyThrough) {
      const rows = await db.query<Row & WalMark & { head: string; in_page: boolean | null }>(
        gated ? q.read_all_gated : q.read_all, [afterPosition, count], gated ? `${statementName}_gated` : statementName);
      if (afterPosition > toSafeNumber(rows[0]?.head ?? '0')) return null;
      const mark = gated && rows[0] ? { sync_names: rows[0].sync_names, flush_lsn: rows[0].flush_lsn, server: rows[0].server } : null;
      return { rows: rows.filter((r) => r.in_page === true), mark };
    }
    const rows = await legacyPage<Row>(q, db, legacyThrough, afterPosition, count, statementName);
    return rows === null ? null : { rows, mark: null };
  };
}

/** A page on the legacy path (events stored before migration 7 first, in their old order); null: no such position. */
async function legacyPage<Row>(
  q: Readonly<Record<(typeof NAMES)[number], string>>, db: SqlQueryable, legacyThrough: number, afterPosition: number, count: number, statementName: string,
): Promise<Row[] | null> {
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
}
