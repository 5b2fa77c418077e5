-- The read model's tables (sql-read-model.ts creates them on open, in its own database). Not migrated: a
-- read model is derived data, so a change of shape bumps READ_MODEL_SCHEMA_VERSION, the old tables are
-- dropped and the read processor rebuilds them from the event store. Statements are split at semicolons.
CREATE TABLE IF NOT EXISTS read_model_schema (
  id      INT PRIMARY KEY,
  version INT NOT NULL
);
-- Account ids in byte order (COLLATE "C", as stream ids): the account list pages in that order, and reads it
-- from the primary key's index; under the database's default collation it sorted the whole table per page.
CREATE TABLE IF NOT EXISTS account_balance (
  account_id           TEXT COLLATE "C" PRIMARY KEY,
  owner                TEXT NOT NULL,
  currency             TEXT NOT NULL,
  balance              BIGINT NOT NULL,
  version              BIGINT NOT NULL,
  last_global_position BIGINT NOT NULL,
  opened_at            TIMESTAMPTZ NOT NULL,
  last_event_at        TIMESTAMPTZ NOT NULL,
  updated_at           TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS account_transactions (
  event_id                UUID PRIMARY KEY,
  account_id              TEXT COLLATE "C" NOT NULL,
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
  transaction_id BIGINT NOT NULL,
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
