// The read store: PostgreSQL (or PGlite) views built from the event stream by the read processor. It is a
// different database from the event store (READ_DATABASE_URL vs DATABASE_URL; the spec puts events in
// CockroachDB and views in PostgreSQL), so it sets up its own schema here instead of riding on the event
// store's migrations: CREATE ... IF NOT EXISTS, idempotent, under a transaction-scoped advisory lock so
// several processes starting at once against one empty database do not race on the catalog.
//
// Tables (the spec's `account_balance` and `account_transactions`, plus what the processor needs):
// - account_balance: one row per account, the balance after the last applied event and that event's stream
//   version (the projection's per-account guard: see src/projections/account-projection.ts).
// - account_transactions: one row per money event (deposit, withdrawal, each side of a transfer), keyed by
//   the event id so the same event can never be counted twice.
// - projection_checkpoints: per projection, the global position of the last event applied and a counter.
//   Written in the same transaction as the rows the event changed.
// - dead_letters: events a projection gave up on after max-deliver, for an operator to list and replay.
//
// Money is BIGINT minor units (the ledger's limits keep amounts and balances far below 2^63-1), passed and
// read as decimal strings so no value goes through a JS number.
import type { SqlClient, SqlQueryable } from '../event-store/sql/sql-client.js';
import { toSafeNumber } from '../event-store/sql/sql-event-store.js';
import type { RecordedEvent } from '../../ports/event-store.js';

/** Arbitrary constant: the advisory lock key of the read store's schema setup. */
const SCHEMA_LOCK_KEY = 7_301_240_003;

export const READ_MODEL_SCHEMA = `
CREATE TABLE IF NOT EXISTS account_balance (
  account_id           TEXT PRIMARY KEY,
  owner                TEXT NOT NULL,
  currency             TEXT NOT NULL,
  balance              BIGINT NOT NULL,
  version              BIGINT NOT NULL,
  last_global_position BIGINT NOT NULL,
  last_event_at        TIMESTAMPTZ NOT NULL,
  updated_at           TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS account_transactions (
  event_id                UUID PRIMARY KEY,
  account_id              TEXT NOT NULL,
  type                    TEXT NOT NULL,
  amount                  BIGINT NOT NULL,
  balance_after           BIGINT NOT NULL,
  transfer_id             TEXT,
  counterparty_account_id TEXT,
  global_position         BIGINT NOT NULL,
  stream_version          BIGINT NOT NULL,
  recorded_at             TIMESTAMPTZ NOT NULL,
  UNIQUE (account_id, stream_version)
);
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  name           TEXT PRIMARY KEY,
  position       BIGINT NOT NULL,
  events_applied BIGINT NOT NULL,
  updated_at     TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
  event_id   UUID NOT NULL,
  projection TEXT NOT NULL,
  event      JSONB NOT NULL,
  error      TEXT NOT NULL,
  attempts   INT NOT NULL,
  failed_at  TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (projection, event_id)
);
`;

/** Microsecond ISO-8601 UTC, the RecordedEvent.recordedAt format, from a TIMESTAMPTZ column. */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export interface BalanceRow {
  accountId: string;
  owner: string;
  currency: string;
  balance: string;
  version: number;
  lastGlobalPosition: number;
  lastEventAt: string;
}

export interface TransactionRow {
  eventId: string;
  accountId: string;
  type: string;
  amount: string;
  balanceAfter: string;
  transferId: string | null;
  counterpartyAccountId: string | null;
  globalPosition: number;
  streamVersion: number;
  recordedAt: string;
}

export interface Checkpoint {
  name: string;
  position: number;
  eventsApplied: number;
  updatedAt: string;
}

export interface DeadLetter {
  eventId: string;
  projection: string;
  event: RecordedEvent;
  error: string;
  attempts: number;
  failedAt: string;
}

/** Everything a projection rebuild must reproduce (updated_at left out: it is the wall clock of applying). */
export interface ReadModelContents {
  balances: BalanceRow[];
  transactions: TransactionRow[];
}

export class SqlReadModel {
  private constructor(readonly db: SqlClient) {}

  /** Sets the schema up (idempotent, safe to race) and returns the read model on `db`. */
  static async open(db: SqlClient): Promise<SqlReadModel> {
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
      for (const statement of READ_MODEL_SCHEMA.split(';').map((s) => s.trim()).filter(Boolean)) await tx.query(statement);
    });
    return new SqlReadModel(db);
  }

  /** Empties the views and the checkpoint of `projection` (rebuild); dead letters of it too. */
  async reset(projection: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('TRUNCATE account_balance, account_transactions');
      await tx.query('DELETE FROM projection_checkpoints WHERE name = $1', [projection]);
      await tx.query('DELETE FROM dead_letters WHERE projection = $1', [projection]);
    });
  }

  async checkpoint(name: string): Promise<Checkpoint | null> {
    const rows = await this.db.query<{ name: string; position: string; events_applied: string; updated_at: string }>(
      `SELECT name, position::text AS position, events_applied::text AS events_applied, ${iso('updated_at')} AS updated_at
         FROM projection_checkpoints WHERE name = $1`, [name],
    );
    const row = rows[0];
    return row ? { name: row.name, position: toSafeNumber(row.position), eventsApplied: toSafeNumber(row.events_applied), updatedAt: row.updated_at } : null;
  }

  async balance(accountId: string): Promise<BalanceRow | null> {
    return (await this.balances('WHERE account_id = $1', [accountId]))[0] ?? null;
  }

  /** The whole model in a stable order: for comparisons (tests, a rebuild check). */
  async contents(): Promise<ReadModelContents> {
    return this.db.transaction(async (tx) => ({
      balances: await this.balances('', [], tx),
      transactions: await this.transactions(tx),
    }));
  }

  async recordDeadLetter(projection: string, event: RecordedEvent, error: unknown, attempts: number, tx: SqlQueryable = this.db): Promise<void> {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await tx.query(
      `INSERT INTO dead_letters (event_id, projection, event, error, attempts, failed_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (projection, event_id) DO UPDATE
         SET event = EXCLUDED.event, error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts, failed_at = EXCLUDED.failed_at`,
      [event.eventId, projection, JSON.stringify(event), message.slice(0, 4_000), attempts],
    );
  }

  /** Dead letters of `projection`, in global position order (the order to replay them in). */
  deadLetters(projection: string, limit = 100): Promise<DeadLetter[]> {
    return this.selectDeadLetters('WHERE projection = $1 ORDER BY (event->>\'globalPosition\')::bigint, event_id LIMIT $2', [projection, limit]);
  }

  async deadLetter(projection: string, eventId: string): Promise<DeadLetter | null> {
    return (await this.selectDeadLetters('WHERE projection = $1 AND event_id = $2', [projection, eventId]))[0] ?? null;
  }

  async deadLetterCount(projection: string): Promise<number> {
    const rows = await this.db.query<{ n: string }>('SELECT count(*)::text AS n FROM dead_letters WHERE projection = $1', [projection]);
    return Number(rows[0]?.n ?? 0);
  }

  private async selectDeadLetters(where: string, params: unknown[]): Promise<DeadLetter[]> {
    const rows = await this.db.query<{ event_id: string; projection: string; event: RecordedEvent | string; error: string; attempts: number; failed_at: string }>(
      `SELECT event_id::text AS event_id, projection, event, error, attempts, ${iso('failed_at')} AS failed_at FROM dead_letters ${where}`, params,
    );
    return rows.map((r) => ({
      eventId: r.event_id, projection: r.projection, event: typeof r.event === 'string' ? JSON.parse(r.event) as RecordedEvent : r.event,
      error: r.error, attempts: r.attempts, failedAt: r.failed_at,
    }));
  }

  async removeDeadLetter(projection: string, eventId: string, tx: SqlQueryable = this.db): Promise<void> {
    await tx.query('DELETE FROM dead_letters WHERE projection = $1 AND event_id = $2', [projection, eventId]);
  }

  private async balances(where: string, params: unknown[], tx: SqlQueryable = this.db): Promise<BalanceRow[]> {
    const rows = await tx.query<{ account_id: string; owner: string; currency: string; balance: string; version: string; last_global_position: string; last_event_at: string }>(
      `SELECT account_id, owner, currency, balance::text AS balance, version::text AS version,
              last_global_position::text AS last_global_position, ${iso('last_event_at')} AS last_event_at
         FROM account_balance b ${where} ORDER BY b.account_id COLLATE "C"`, params,
    );
    return rows.map((r) => ({
      accountId: r.account_id, owner: r.owner, currency: r.currency, balance: r.balance, version: toSafeNumber(r.version),
      lastGlobalPosition: toSafeNumber(r.last_global_position), lastEventAt: r.last_event_at,
    }));
  }

  private async transactions(tx: SqlQueryable): Promise<TransactionRow[]> {
    const rows = await tx.query<{ event_id: string; account_id: string; type: string; amount: string; balance_after: string; transfer_id: string | null; counterparty_account_id: string | null; global_position: string; stream_version: string; recorded_at: string }>(
      `SELECT event_id::text AS event_id, account_id, type, amount::text AS amount, balance_after::text AS balance_after,
              transfer_id, counterparty_account_id, global_position::text AS global_position,
              stream_version::text AS stream_version, ${iso('recorded_at')} AS recorded_at
         FROM account_transactions t ORDER BY t.account_id COLLATE "C", t.stream_version`,
    );
    return rows.map((r) => ({
      eventId: r.event_id, accountId: r.account_id, type: r.type, amount: r.amount, balanceAfter: r.balance_after,
      transferId: r.transfer_id, counterpartyAccountId: r.counterparty_account_id, globalPosition: toSafeNumber(r.global_position),
      streamVersion: toSafeNumber(r.stream_version), recordedAt: r.recorded_at,
    }));
  }
}
