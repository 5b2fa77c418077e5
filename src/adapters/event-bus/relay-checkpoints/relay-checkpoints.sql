-- The relay checkpoints' statements (sql-relay-checkpoints.ts; table: migration 3), and the log head the
-- lag count reads.

-- The position relay $1 has published up to. Prepared: chronicle_relay_checkpoint_load.
-- name: load
SELECT position::text AS position FROM relay_checkpoints WHERE name = $1

-- Relay $1 is now at position $2. Prepared: chronicle_relay_checkpoint_save.
-- name: save
INSERT INTO relay_checkpoints (name, position, updated_at) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at

-- The last position handed out (positions are dense and in commit order since migration 7). Prepared:
-- chronicle_log_head.
-- name: log_head
SELECT position::text AS head FROM event_log_head
