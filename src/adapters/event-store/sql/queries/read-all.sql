-- One page of $all after a position (read-all.ts). {{columns}}: the caller's select list over events `e`.
-- Since migration 7 positions are handed out in commit order and committed gap-free, so a page is
-- "position > n": whatever a snapshot sees is a prefix of the log, and no event can commit later below the
-- reader's cursor. Events stored before migration 7 whose positions were not in commit order (legacy
-- through > 0) keep their order, (transaction_id, global_position), and all come first.

-- The page, and the head read in the same snapshot: it tells a position not yet written (past the head)
-- from one at the end of the log. $1: after this position, $2: at most this many.
-- name: read_all
SELECT h.position::text AS head, p.* FROM event_log_head h LEFT JOIN LATERAL (
  SELECT {{columns}}, true AS in_page FROM events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT $2) p ON true

-- read_all, with where the WAL stood after its snapshot ({{wal_mark}}: quorum.sql's wal_mark, a subquery
-- evaluated once): the PostgreSQL event store's page, for the quorum gate, at no extra round trip.
-- name: read_all_gated
SELECT h.position::text AS head, w.*, p.* FROM ({{wal_mark}}) w CROSS JOIN event_log_head h LEFT JOIN LATERAL (
  SELECT {{columns}}, true AS in_page FROM events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT $2) p ON true

-- The transaction of the legacy event at $1 (the cursor's commit-order key).
-- name: legacy_transaction
SELECT transaction_id::text AS tx FROM events WHERE global_position = $1

-- Legacy events after the cursor ($1 its transaction, $2 its position), in their old order, up to
-- legacy_through ($4); $3 of them at most.
-- name: read_legacy
SELECT {{columns}} FROM events e
 WHERE e.global_position <= $4 AND (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
 ORDER BY e.transaction_id, e.global_position LIMIT $3

-- What follows the legacy events: by position from legacy_through ($1), $2 at most.
-- name: read_after_legacy
SELECT {{columns}} FROM events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT $2

-- event_log_head.legacy_through: the last position stored before migration 7 whose events keep their
-- older order; 0 when there is none.
-- name: legacy_through
SELECT legacy_through::text AS legacy_through FROM event_log_head
