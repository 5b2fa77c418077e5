
-- API keys (src/application/api-keys.ts). Configuration, not events: a revocation updates the row. Only the
-- SHA-256 of a key is kept; the key itself is shown once, when it is made.
CREATE TABLE IF NOT EXISTS api_keys (
  id          TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),   -- the key's public part: chr_<id>_<secret>
  name        TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  role        TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'auditor', 'admin')),
  key_hash    TEXT NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),  -- hex SHA-256 of the whole key
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  created_by  TEXT NOT NULL,                                     -- key:<id>, cli:<user> or bootstrap
  revoked_at  TIMESTAMPTZ
);
