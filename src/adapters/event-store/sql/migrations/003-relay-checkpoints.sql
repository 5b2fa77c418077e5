
-- The outbox relay's position in $all, one row per relay (src/application/relay.ts). Beside the events, so a
-- backup of the store carries it.
CREATE TABLE IF NOT EXISTS relay_checkpoints (
  name        TEXT PRIMARY KEY,
  position    BIGINT NOT NULL CHECK (position >= 0),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
