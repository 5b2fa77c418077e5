-- The API key store's statements (sql-api-key-store.ts; table: migration 6). {{columns}}: an api_keys row's
-- select list, times as ISO-8601 UTC with milliseconds.

-- Prepared: chronicle_api_key_find.
-- name: find
SELECT {{columns}} FROM api_keys WHERE id = $1

-- The oldest $1 keys first.
-- name: list
SELECT {{columns}} FROM api_keys ORDER BY created_at, id LIMIT $1

-- $1 id, $2 name, $3 role, $4 key hash, $5 created by.
-- name: insert
INSERT INTO api_keys (id, name, role, key_hash, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING {{columns}}

-- The first admin key is stored by one process only: a transaction-scoped advisory lock ($1: its key)
-- serialises the "no key yet?" check of processes starting at once.
-- name: bootstrap_lock
SELECT pg_advisory_xact_lock($1)

-- name: any_key
SELECT 1 FROM api_keys LIMIT 1

-- Revoking twice keeps the first time.
-- name: revoke
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {{columns}}
