-- The read model's statements (sql-read-model.ts); its tables are in schema.sql. Fragments, from the module:
-- {{balance_columns}}: an account_balance row's select list over the table aliased b;
-- {{checkpoint_columns x}}: a projection_checkpoints row's select list over x;
-- {{dead_letter_columns}}: a dead_letters row's select list.

-- Schema setup (open), under a transaction-scoped advisory lock ($1: its key).
-- name: schema_lock
SELECT pg_advisory_xact_lock($1)

-- name: schema_version_table_exists
SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'read_model_schema'

-- name: schema_version
SELECT version FROM read_model_schema WHERE id = 1

-- Tables from before the schema had a version.
-- name: legacy_tables_exist
SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'account_balance'

-- name: drop_views
DROP TABLE IF EXISTS account_balance, account_transactions, projection_checkpoints

-- name: set_schema_version
INSERT INTO read_model_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version

-- A rebuild's reset of projection $1: the views, its checkpoint, its dead letters.
-- name: truncate_views
TRUNCATE account_balance, account_transactions

-- name: delete_checkpoint
DELETE FROM projection_checkpoints WHERE name = $1

-- name: delete_dead_letters
DELETE FROM dead_letters WHERE projection = $1

-- name: checkpoint
SELECT {{checkpoint_columns projection_checkpoints}} FROM projection_checkpoints WHERE name = $1

-- The account $1 (balance(); the ORDER BY is that of every balance read).
-- name: balance
SELECT {{balance_columns}} FROM account_balance b WHERE account_id = $1 ORDER BY b.account_id COLLATE "C"

-- The accounts $1 (the balance reads of one event-loop turn, sql-read-model.ts) with projection $2's
-- checkpoint, in one statement, one snapshot: a row per account found, else one row with found false.
-- Prepared: chronicle_rm_balances.
-- name: balance_with_checkpoint
SELECT {{checkpoint_columns c}}, b.account_id IS NOT NULL AS found, {{balance_columns}}
  FROM (SELECT 1) one
  LEFT JOIN projection_checkpoints c ON c.name = $2
  LEFT JOIN account_balance b ON b.account_id = ANY ($1::text[])

-- name: read_only_snapshot
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY

-- Accounts after id $1 (null: from the start) whose id or owner matches the ILIKE pattern $2 (null: any).
-- The module appends ` LIMIT <n>` (a literal, as before this file existed).
-- name: list_balances
SELECT {{balance_columns}} FROM account_balance b WHERE ($1::text IS NULL OR b.account_id COLLATE "C" > $1::text COLLATE "C")
   AND ($2::text IS NULL OR b.account_id ILIKE $2::text OR b.owner ILIKE $2::text) ORDER BY b.account_id COLLATE "C"

-- Every account, for contents().
-- name: all_balances
SELECT {{balance_columns}} FROM account_balance b ORDER BY b.account_id COLLATE "C"

-- name: all_transactions
SELECT event_id::text AS event_id, account_id, type, amount::text AS amount, balance_after::text AS balance_after,
       transfer_id, counterparty_account_id, global_position::text AS global_position,
       stream_version::text AS stream_version, {{utc_micros recorded_at}} AS recorded_at
  FROM account_transactions t ORDER BY t.account_id COLLATE "C", t.stream_version

-- True (free) unless a rebuild holds the projection lock ($1) alone.
-- name: try_share_projection_lock
SELECT pg_try_advisory_xact_lock_shared($1) AS free

-- name: ping
SELECT 1

-- name: balances_by_currency
SELECT currency, count(*)::text AS accounts, sum(balance)::text AS total FROM account_balance GROUP BY currency ORDER BY currency

-- name: transaction_count
SELECT count(*)::text AS n FROM account_transactions

-- $1 event id, $2 projection, $3 the event (JSON), $4 the error, $5 attempts; a repeat adds its attempts.
-- name: record_dead_letter
INSERT INTO dead_letters (event_id, projection, event, error, attempts, failed_at) VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (projection, event_id) DO UPDATE
  SET event = EXCLUDED.event, error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts, failed_at = EXCLUDED.failed_at

-- Dead letters of projection $1 in global position order (the order to replay them in), $2 at most.
-- name: dead_letters
SELECT {{dead_letter_columns}} FROM dead_letters WHERE projection = $1 ORDER BY (event->>'globalPosition')::bigint, event_id LIMIT $2

-- name: dead_letter
SELECT {{dead_letter_columns}} FROM dead_letters WHERE projection = $1 AND event_id = $2

-- name: dead_letter_count
SELECT count(*)::text AS n FROM dead_letters WHERE projection = $1

-- name: remove_dead_letter
DELETE FROM dead_letters WHERE projection = $1 AND event_id = $2

-- Live writes share the projection lock ($1); a rebuild takes it alone for its whole run, on one session.
-- Prepared: chronicle_rm_share_lock.
-- name: share_projection_lock
SELECT pg_advisory_xact_lock_shared($1)

-- name: projection_lock
SELECT pg_advisory_lock($1)

-- name: projection_unlock
SELECT pg_advisory_unlock($1)

-- Accounts $1 (text[]), locked in id order for the batch's write. Prepared: chronicle_rm_lock_accounts.
-- name: lock_balances
SELECT {{balance_columns}} FROM account_balance b WHERE b.account_id = ANY($1::text[]) ORDER BY b.account_id COLLATE "C" FOR UPDATE

-- The whole write of a batch in one statement (data-modifying CTEs). New accounts: $1..$8 (id, owner,
-- currency, balance, version, last position, last event at, opened at); changed accounts: $9..$13 (id,
-- balance, version, last position, last event at); transaction rows: $14..$23; the checkpoint: $24
-- projection, $25 transaction id and $26 position of the last event (null: none), $27 events applied.
-- The checkpoint moves only forward in commit order; events_applied counts either way. Prepared:
-- chronicle_rm_write_batch.
-- name: write_batch
WITH ins AS (
  INSERT INTO account_balance (account_id, owner, currency, balance, version, last_global_position, last_event_at, opened_at, updated_at)
  SELECT a, o, cur, b, v, p, at, op, now()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::timestamptz[], $8::timestamptz[])
      AS x(a, o, cur, b, v, p, at, op)
  ON CONFLICT (account_id) DO NOTHING RETURNING 1
), upd AS (
  UPDATE account_balance SET balance = x.b, version = x.v, last_global_position = x.p, last_event_at = x.at, updated_at = now()
    FROM unnest($9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::timestamptz[]) AS x(a, b, v, p, at)
   WHERE account_id = x.a
  RETURNING 1
), txs AS (
  INSERT INTO account_transactions (event_id, account_id, type, amount, balance_after, transfer_id, counterparty_account_id,
                                    global_position, stream_version, recorded_at)
  SELECT * FROM unnest($14::uuid[], $15::text[], $16::text[], $17::bigint[], $18::bigint[], $19::text[], $20::text[],
                       $21::bigint[], $22::bigint[], $23::timestamptz[])
  ON CONFLICT (event_id) DO NOTHING RETURNING 1
), cp AS (
  INSERT INTO projection_checkpoints AS c (name, transaction_id, position, events_applied, updated_at)
  SELECT $24::text, $25::bigint, $26::bigint, $27::bigint, now() WHERE $25::bigint IS NOT NULL
  ON CONFLICT (name) DO UPDATE SET
    transaction_id = CASE WHEN c.position < EXCLUDED.position THEN EXCLUDED.transaction_id ELSE c.transaction_id END,
    position       = GREATEST(c.position, EXCLUDED.position),
    events_applied = c.events_applied + EXCLUDED.events_applied,
    updated_at     = EXCLUDED.updated_at
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS inserted

-- Where a streaming replica is: in recovery (a replica) or not, and how long ago it replayed its last
-- transaction (null: none replayed since it started).
-- name: replica_state
SELECT pg_is_in_recovery() AS in_recovery,
       (EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS replay_age_ms
