// The read store: PostgreSQL (or PGlite) views built from the event stream by the read processor. It is a
// different database from the event store (READ_DATABASE_URL vs DATABASE_URL; the spec puts events in
// CockroachDB and views in PostgreSQL), so it sets up its own schema here instead of riding on the event
// store's migrations: schema.sql, CREATE ... IF NOT EXISTS, idempotent, under a transaction-scoped advisory
// lock so several processes starting at once against one empty database do not race on the catalog.
// Its statements are in queries.sql, beside this file.
//
// Tables (the spec's `account_balance` and `account_transactions`, plus what the processor needs):
// - account_balance: one row per account, the balance after the last applied event and that event's stream
//   version (the projection's per-account guard: see src/projections/account-projection.ts).
// - account_transactions: one row per money event (deposit, withdrawal, each side of a transfer), keyed by
//   the event id so the same event can never be counted twice.
// - projection_checkpoints: per projection, the last event applied (its global position, which is in commit
//   order since event store migration 7, and its transaction id, for display) and a counter. Written in the
//   same transaction as the rows the event changed, and only ever forward.
// - dead_letters: events a projection gave up on after max-deliver, for an operator to list and replay.
//
// Money is BIGINT minor units (the ledger's limits keep amounts and balances far below 2^63-1), passed and
// read as decimal strings so no value goes through a JS number.
import { sqlErrorOf, type SqlClient, type SqlQueryable } from '../event-store/sql/sql-client.js';
import { toSafeNumber } from '../event-store/sql/event-rows.js';
import { namedQueries, sqlFile } from '../event-store/sql/sql-files.js';
import { utcMicros } from '../event-store/sql/utc-micros.js';
import { BALANCE_READ_BATCH_MAX, DEAD_LETTER_ERROR_LENGTH_MAX, DEAD_LETTERS_PAGE_DEFAULT, READ_REPLICA_CONFLICT_RETRIES } from '../../domain/limits.js';
import { TurnBatch } from '../../lib/turn-batch.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type {
  BalanceRow, Checkpoint, DeadLetter, ProjectionWrite, ReadModel, ReadModelContents, ReadModelTransaction, TransactionRow,
} from '../../ports/read-model.js';

/** Arbitrary constant: the advisory lock key of the read store's schema setup. */
const SCHEMA_LOCK_KEY = 7_301_240_003;
/** Arbitrary constant: the advisory lock key of projection writes; live writes share it, a rebuild takes it alone. */
export const PROJECTION_LOCK_KEY = 7_301_240_004;

/**
 * The read model's schema version. A read model is derived data: when its tables change shape, the old ones
 * are dropped and the model is rebuilt from the event store (the read processor does so on start when its
 * checkpoint is missing), instead of being migrated. Dead letters are kept.
 */
export const READ_MODEL_SCHEMA_VERSION = 3;

const READ_MODEL_SCHEMA = sqlFile(new URL('./schema.sql', import.meta.url));

interface BalanceColumns {
  account_id: string; owner: string; currency: string; balance: string; version: string; last_global_position: string;
  opened_at: string; last_event_at: string;
}
export const BALANCE_COLUMNS = `b.account_id, b.owner, b.currency, b.balance::text AS balance, b.version::text AS version,
  b.last_global_position::text AS last_global_position, ${utcMicros('b.opened_at')} AS opened_at, ${utcMicros('b.last_event_at')} AS last_event_at`;
export const toBalance = (r: BalanceColumns): BalanceRow => ({
  accountId: r.account_id, owner: r.owner, currency: r.currency, balance: r.balance, version: toSafeNumber(r.version),
  lastGlobalPosition: toSafeNumber(r.last_global_position), openedAt: r.opened_at, lastEventAt: r.last_event_at,
});

interface CheckpointColumns { name: string; transaction_id: string; position: string; events_applied: string; updated_at: string }
const checkpointColumns = (c: string) => `${c}.name, ${c}.transaction_id::text AS transaction_id, ${c}.position::text AS position,
  ${c}.events_applied::text AS events_applied, ${utcMicros(`${c}.updated_at`)} AS updated_at`;
const toCheckpoint = (r: CheckpointColumns): Checkpoint => ({
  name: r.name, transactionId: r.transaction_id, position: toSafeNumber(r.position), eventsApplied: toSafeNumber(r.events_applied), updatedAt: r.updated_at,
});
const DEAD_LETTER_COLUMNS = `event_id::text AS event_id, projection, event, error, attempts, ${utcMicros('failed_at')} AS failed_at`;

const Q = namedQueries(new URL('./queries.sql', import.meta.url), [
  'schema_lock', 'schema_version_table_exists', 'schema_version', 'legacy_tables_exist', 'drop_views', 'set_schema_version',
  'truncate_views', 'delete_checkpoint', 'delete_dead_letters', 'checkpoint', 'balance', 'balance_with_checkpoint', 'read_only_snapshot',
  'list_balances', 'all_balances', 'all_transactions', 'try_share_projection_lock', 'ping', 'balances_by_currency', 'transaction_count',
  'record_dead_letter', 'dead_letters', 'dead_letter', 'dead_letter_count', 'remove_dead_letter', 'share_projection_lock',
  'projection_lock', 'projection_unlock', 'lock_balances', 'write_batch', 'replica_state',
], { balance_columns: BALANCE_COLUMNS, checkpoint_columns: checkpointColumns, dead_letter_columns: DEAD_LETTER_COLUMNS });

export class ReadReplicaNotReadyError extends Error {
  override readonly name = 'ReadReplicaNotReadyError';
}

/** SQLSTATE of a statement a hot standby cancelled because replay needed what it read (conflict with recovery). */
const RECOVERY_CONFLICT_CODES = new Set(['40001', '40P01']);

/** `db` with every statement retried (up to READ_REPLICA_CONFLICT_RETRIES times) when a hot standby cancels it. */
function retryingRecoveryConflicts(db: SqlClient): SqlClient {
  const retry = async <T>(run: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await run();
      } catch (error) {
        const code = sqlErrorOf(error)?.code;
        if (attempt >= READ_REPLICA_CONFLICT_RETRIES || code === undefined || !RECOVERY_CONFLICT_CODES.has(code)) throw error;
      }
    }
  };
  return {
    dialect: db.dialect,
    query: (text, params, name) => retry(() => db.query(text, params, name)),
    exec: (sql) => retry(() => db.exec(sql)),
    transaction: (fn) => retry(() => db.transaction(fn)),
    session: (fn) => db.session(fn),
    close: () => db.close(),
  };
}

/** The statements of a schema file: split at semicolons, comment lines dropped. */
const statementsOf = (sql: string): string[] =>
  sql.split('\n').filter((line) => !line.startsWith('--')).join('\n').split(';').map((s) => s.trim()).filter(Boolean);

export class SqlReadModel implements ReadModel {
  /** Balance reads of one event-loop turn, by projection: one query each (balanceWithCheckpoint). */
  private readonly balanceReads = new Map<string, TurnBatch<string, { accounts: Map<string, BalanceRow>; checkpoint: Checkpoint | null }>>();

  private constructor(readonly db: SqlClient) {}

  /**
   * Sets the schema up (idempotent, safe to race) and returns the read model on `db`. Tables of another
   * schema version are dropped first (the model is then empty and its processor rebuilds it).
   */
  static async open(db: SqlClient): Promise<SqlReadModel> {
    await db.transaction(async (tx) => {
      await tx.query(Q.schema_lock, [SCHEMA_LOCK_KEY]);
      const known = await tx.query<{ n: number }>(Q.schema_version_table_exists);
      const stored = known[0]?.n ? (await tx.query<{ version: number }>(Q.schema_version))[0]?.version : undefined;
      const legacy = !known[0]?.n && (await tx.query<{ n: number }>(Q.legacy_tables_exist))[0]?.n;
      if ((stored !== undefined && stored !== READ_MODEL_SCHEMA_VERSION) || legacy) await tx.query(Q.drop_views);
      for (const statement of statementsOf(READ_MODEL_SCHEMA)) await tx.query(statement);
      await tx.query(Q.set_schema_version, [READ_MODEL_SCHEMA_VERSION]);
    });
    return new SqlReadModel(db);
  }

  /**
   * The read model on a streaming replica of the read store (READ_REPLICA_URL): read-only, so nothing is set
   * up; the primary's processes do that, and the replica receives it. Until the replica has the schema of this
   * version it answers ReadReplicaNotReadyError (the caller retries). Statements cancelled by a conflict with
   * recovery (the replica replaying a change under a running read) are retried a few times.
   */
  static async onReplica(db: SqlClient): Promise<SqlReadModel> {
    const replica = retryingRecoveryConflicts(db);
    const known = await replica.query<{ n: number }>(Q.schema_version_table_exists);
    const stored = known[0]?.n ? (await replica.query<{ version: number }>(Q.schema_version))[0]?.version : undefined;
    if (stored !== READ_MODEL_SCHEMA_VERSION) {
      throw new ReadReplicaNotReadyError(`the read replica has read model schema ${stored ?? 'none'}, not ${READ_MODEL_SCHEMA_VERSION}: it has not replayed the primary's set-up yet`);
    }
    return new SqlReadModel(replica);
  }

  /** Empties the views and the checkpoint of `projection` (rebuild); dead letters of it too. */
  async reset(projection: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(Q.truncate_views);
      await tx.query(Q.delete_checkpoint, [projection]);
      await tx.query(Q.delete_dead_letters, [projection]);
    });
  }

  async checkpoint(name: string): Promise<Checkpoint | null> {
    const rows = await this.db.query<CheckpointColumns>(Q.checkpoint, [name]);
    return rows[0] ? toCheckpoint(rows[0]) : null;
  }

  async balance(accountId: string): Promise<BalanceRow | null> {
    return (await this.balances(Q.balance, [accountId]))[0] ?? null;
  }

  /**
   * One account's row and the projection's checkpoint, read by one statement (one snapshot), so the
   * checkpoint reported beside a balance is never older than the balance. `account` null: no such row.
   */
  async balanceWithCheckpoint(accountId: string, projection: string): Promise<{ account: BalanceRow | null; checkpoint: Checkpoint | null }> {
    let batch = this.balanceReads.get(projection);
    if (batch === undefined) {
      batch = new TurnBatch((ids) => this.balancesWithCheckpoint(ids, projection), BALANCE_READ_BATCH_MAX);
      this.balanceReads.set(projection, batch);
    }
    const { accounts, checkpoint } = await batch.lookup([accountId]);
    return { account: accounts.get(accountId) ?? null, checkpoint };
  }

  private async balancesWithCheckpoint(accountIds: string[], projection: string): Promise<{ accounts: Map<string, BalanceRow>; checkpoint: Checkpoint | null }> {
    const rows = await this.db.query<BalanceColumns & Partial<CheckpointColumns> & { found: boolean }>(
      Q.balance_with_checkpoint, [accountIds, projection], 'chronicle_rm_balances',
    );
    const first = rows[0]!;
    return {
      accounts: new Map(rows.filter((r) => r.found).map((r) => [r.account_id, toBalance(r)])),
      checkpoint: first.name ? toCheckpoint(first as CheckpointColumns) : null,
    };
  }

  /**
   * Accounts in id (byte) order after `after`, with the checkpoint, in one snapshot; with `search`, only those
   * whose id or owner contains it (any case). The search is a scan of the read model, bounded by `limit`
   * matches: for people looking, not for batch jobs.
   */
  async listWithCheckpoint(projection: string, after: string | undefined, limit: number, search?: string): Promise<{ accounts: BalanceRow[]; checkpoint: Checkpoint | null }> {
    // LIKE's own metacharacters in the search are matched literally (escaped with \, LIKE's default escape).
    const pattern = search === undefined || search === '' ? null : `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    return this.db.transaction(async (tx) => {
      await tx.query(Q.read_only_snapshot);
      // The LIMIT is spliced in as a literal, as it always was (a parameter would change the statement).
      const accounts = await this.balances(`${Q.list_balances} LIMIT ${Math.trunc(limit)}`, [after ?? null, pattern], tx);
      const rows = await tx.query<CheckpointColumns>(Q.checkpoint, [projection]);
      return { accounts, checkpoint: rows[0] ? toCheckpoint(rows[0]) : null };
    });
  }

  /** True while a rebuild (in any process) holds the projection lock alone. */
  async rebuildRunning(): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ free: boolean }>(Q.try_share_projection_lock, [PROJECTION_LOCK_KEY]);
      return rows[0]?.free === false;
    });
  }

  /**
   * On a replica: whether it is one, and how long ago it replayed its last transaction (an idle primary
   * makes that age grow too, so it is a figure for people, not a lag).
   */
  async replicaState(): Promise<{ inRecovery: boolean; lastReplayAgeMs: number | null }> {
    const row = (await this.db.query<{ in_recovery: boolean; replay_age_ms: number | null }>(Q.replica_state))[0]!;
    return { inRecovery: row.in_recovery, lastReplayAgeMs: row.replay_age_ms === null ? null : Math.round(row.replay_age_ms) };
  }

  async ping(): Promise<void> {
    await this.db.query(Q.ping);
  }

  /** The projection's state in figures: accounts, transaction rows, and the sum of balances per currency. */
  async summary(): Promise<{ accounts: number; transactions: number; balancesByCurrency: Record<string, string> }> {
    return this.db.transaction(async (tx) => {
      await tx.query(Q.read_only_snapshot);
      const sums = await tx.query<{ currency: string; accounts: string; total: string }>(Q.balances_by_currency);
      const transactions = await tx.query<{ n: string }>(Q.transaction_count);
      return {
        accounts: sums.reduce((n, r) => n + Number(r.accounts), 0),
        transactions: Number(transactions[0]?.n ?? 0),
        balancesByCurrency: Object.fromEntries(sums.map((r) => [r.currency, r.total])),
      };
    });
  }

  /** The whole model in a stable order: for comparisons (tests, a rebuild check). */
  async contents(): Promise<ReadModelContents> {
    return this.db.transaction(async (tx) => ({
      balances: await this.balances(Q.all_balances, [], tx),
      transactions: await this.transactions(tx),
    }));
  }

  async recordDeadLetter(projection: string, event: RecordedEvent, error: unknown, attempts: number): Promise<void> {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await this.db.query(
      Q.record_dead_letter,
      [event.eventId, projection, JSON.stringify(event), message.slice(0, DEAD_LETTER_ERROR_LENGTH_MAX), attempts],
    );
  }

  /** Dead letters of `projection`, in global position order (the order to replay them in). */
  deadLetters(projection: string, limit = DEAD_LETTERS_PAGE_DEFAULT): Promise<DeadLetter[]> {
    return this.selectDeadLetters(Q.dead_letters, [projection, limit]);
  }

  async deadLetter(projection: string, eventId: string): Promise<DeadLetter | null> {
    return (await this.selectDeadLetters(Q.dead_letter, [projection, eventId]))[0] ?? null;
  }

  async deadLetterCount(projection: string): Promise<number> {
    const rows = await this.db.query<{ n: string }>(Q.dead_letter_count, [projection]);
    return Number(rows[0]?.n ?? 0);
  }

  private async selectDeadLetters(statement: string, params: unknown[]): Promise<DeadLetter[]> {
    const rows = await this.db.query<{ event_id: string; projection: string; event: RecordedEvent | string; error: string; attempts: number; failed_at: string }>(
      statement, params,
    );
    return rows.map((r) => ({
      eventId: r.event_id, projection: r.projection, event: typeof r.event === 'string' ? JSON.parse(r.event) as RecordedEvent : r.event,
      error: r.error, attempts: r.attempts, failedAt: r.failed_at,
    }));
  }

  async removeDeadLetter(projection: string, eventId: string, tx?: ReadModelTransaction): Promise<void> {
    if (tx) return tx.removeDeadLetter(projection, eventId);
    await removeDeadLetter(this.db, projection, eventId);
  }

  async transaction<T>(fn: (tx: ReadModelTransaction) => Promise<T>, { lockHeld = false }: { lockHeld?: boolean } = {}): Promise<T> {
    return this.db.transaction(async (tx) => {
      if (!lockHeld) await tx.query(Q.share_projection_lock, [PROJECTION_LOCK_KEY], 'chronicle_rm_share_lock');
      return fn(new SqlReadModelTransaction(tx));
    });
  }

  /** A session-level advisory lock on a connection held for fn's whole run (a rebuild spans many transactions). */
  async withProjectionLockAlone<T>(fn: () => Promise<T>): Promise<T> {
    return this.db.session(async (session) => {
      await session.query(Q.projection_lock, [PROJECTION_LOCK_KEY]);
      try {
        return await fn();
      } finally {
        await session.query(Q.projection_unlock, [PROJECTION_LOCK_KEY]);
      }
    });
  }

  private async balances(statement: string, params: unknown[], tx: SqlQueryable = this.db): Promise<BalanceRow[]> {
    const rows = await tx.query<BalanceColumns>(statement, params);
    return rows.map(toBalance);
  }

  private async transactions(tx: SqlQueryable): Promise<TransactionRow[]> {
    const rows = await tx.query<{ event_id: string; account_id: string; type: string; amount: string; balance_after: string; transfer_id: string | null; counterparty_account_id: string | null; global_position: string; stream_version: string; recorded_at: string }>(
      Q.all_transactions,
    );
    return rows.map((r) => ({
      eventId: r.event_id, accountId: r.account_id, type: r.type, amount: r.amount, balanceAfter: r.balance_after,
      transferId: r.transfer_id, counterpartyAccountId: r.counterparty_account_id, globalPosition: toSafeNumber(r.global_position),
      streamVersion: toSafeNumber(r.stream_version), recordedAt: r.recorded_at,
    }));
  }
}

const removeDeadLetter = async (db: SqlQueryable, projection: string, eventId: string): Promise<void> => {
  await db.query(Q.remove_dead_letter, [projection, eventId]);
};

/** The projection's writes inside one read-model transaction (src/projections/account-projection.ts decides them). */
class SqlReadModelTransaction implements ReadModelTransaction {
  constructor(private readonly tx: SqlQueryable) {}

  async lockBalances(accountIds: readonly string[]): Promise<Map<string, BalanceRow>> {
    if (accountIds.length === 0) return new Map();
    const rows = await this.tx.query<BalanceColumns>(Q.lock_balances, [accountIds], 'chronicle_rm_lock_accounts');
    return new Map(rows.map((r) => [r.account_id, toBalance(r)]));
  }

  /**
   * The whole write of a batch (or of one event) in ONE statement (data-modifying CTEs: new accounts, changed
   * accounts, transaction rows, checkpoint): a batch is then BEGIN, lock, read, write, COMMIT, five round
   * trips whatever its size. Round trips are what a busy process pays for (each waits a turn of its event
   * loop). The checkpoint moves to `checkpoint.event` only if that is forward in commit order; `applied` is
   * counted either way.
   */
  async write(projection: string, { created: c, changed: u, transactions: t, checkpoint }: ProjectionWrite): Promise<{ inserted: number }> {
    const rows = await this.tx.query<{ inserted: number }>(
      Q.write_batch,
      [
        c.map((r) => r.accountId), c.map((r) => r.owner), c.map((r) => r.currency), c.map((r) => r.balance),
        c.map((r) => String(r.version)), c.map((r) => String(r.lastGlobalPosition)), c.map((r) => r.lastEventAt), c.map((r) => r.openedAt),
        u.map((r) => r.accountId), u.map((r) => r.balance), u.map((r) => String(r.version)), u.map((r) => String(r.lastGlobalPosition)),
        u.map((r) => r.lastEventAt),
        t.map((r) => r.eventId), t.map((r) => r.accountId), t.map((r) => r.type), t.map((r) => r.amount), t.map((r) => r.balanceAfter),
        t.map((r) => r.transferId), t.map((r) => r.counterpartyAccountId), t.map((r) => String(r.globalPosition)),
        t.map((r) => String(r.streamVersion)), t.map((r) => r.recordedAt),
        projection, checkpoint?.event.transactionId ?? null, checkpoint?.event.globalPosition ?? null, checkpoint?.applied ?? 0,
      ],
      'chronicle_rm_write_batch',
    );
    return { inserted: rows[0]?.inserted ?? 0 };
  }

  removeDeadLetter(projection: string, eventId: string): Promise<void> {
    return removeDeadLetter(this.tx, projection, eventId);
  }
}
