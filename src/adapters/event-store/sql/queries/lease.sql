-- A lease's statements (lease.ts): a session-level advisory lock on hashtext($1), $1 the lease's key
-- (chronicle-lease:<name>), on a connection held for as long as the holder runs.

-- Asks once, without waiting: held is false while another session holds it.
-- name: try_lock
SELECT pg_try_advisory_lock(hashtext($1)) AS held

-- name: unlock
SELECT pg_advisory_unlock(hashtext($1))

-- The holder's check that its connection still answers.
-- name: check_connection
SELECT 1
