-- The event store's statements other than the fast append and $all (sql-event-store.ts). Each is prepared
-- once per connection under its name with a chronicle_ prefix. {{event_columns x}}: an event row's select
-- list over events aliased x (event-rows.ts).

-- One round trip, one transaction: chronicle_append (migration 7) checks, appends and answers as JSONB.
-- name: append
SELECT chronicle_append($1::jsonb) AS r

-- A stream's current version (0: none) and up to $3 events from version $2 on, either way.
-- name: read_stream_forward
SELECT s.current_version::text AS current_version, e.*
  FROM (SELECT COALESCE((SELECT version FROM streams WHERE stream_id = $1), 0) AS current_version) s
  LEFT JOIN LATERAL (
    SELECT {{event_columns ev}} FROM events ev
     WHERE ev.stream_id = $1 AND ev.stream_version >= $2
     ORDER BY ev.stream_version ASC LIMIT $3) e ON true

-- name: read_stream_backward
SELECT s.current_version::text AS current_version, e.*
  FROM (SELECT COALESCE((SELECT version FROM streams WHERE stream_id = $1), 0) AS current_version) s
  LEFT JOIN LATERAL (
    SELECT {{event_columns ev}} FROM events ev
     WHERE ev.stream_id = $1 AND ev.stream_version <= $2
     ORDER BY ev.stream_version DESC LIMIT $3) e ON true

-- The newest $1 events after legacy_through ($2), newest first. Positions are in commit order (migration 7)
-- and whatever is visible is a gap-free prefix of them: following on from the newest skips nothing.
-- name: read_latest
SELECT {{event_columns e}} FROM events e WHERE e.global_position > $2
 ORDER BY e.global_position DESC LIMIT $1

-- ... then, when those were fewer than asked, the newest legacy events (read-all.sql), in their old order.
-- name: read_latest_legacy
SELECT {{event_columns e}} FROM events e WHERE e.global_position <= $2
 ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT $1

-- name: read_event_at
SELECT {{event_columns e}} FROM events e WHERE e.global_position = $1

-- The stream's last event recorded at or before $2.
-- name: last_event_at
SELECT {{event_columns e}} FROM events e WHERE e.stream_id = $1 AND e.recorded_at <= $2::timestamptz
 ORDER BY e.recorded_at DESC, e.stream_version DESC LIMIT 1

-- name: first_and_last
SELECT {{event_columns e}} FROM streams s JOIN events e ON e.stream_id = s.stream_id
 WHERE s.stream_id = $1 AND e.stream_version IN (1, s.version) ORDER BY e.stream_version

-- Streams with ids in ($1, $2), in byte order, $3 at most, each with its first event (columns of f) and its
-- last (l, as JSON).
-- name: list_streams
SELECT s.stream_id AS s_id, s.aggregate_type AS s_type, s.version::text AS s_version,
       {{utc_micros s.created_at}} AS s_created,
       {{utc_micros s.updated_at}} AS s_updated,
       {{event_columns f}},
       (SELECT to_jsonb(x) FROM (SELECT {{event_columns l}} FROM events l
          WHERE l.stream_id = s.stream_id AND l.stream_version = s.version) x) AS l
  FROM streams s JOIN events f ON f.stream_id = s.stream_id AND f.stream_version = 1
 WHERE s.stream_id > $1 AND s.stream_id < $2
 ORDER BY s.stream_id LIMIT $3

-- The keys looked up in one event-loop turn (sql-event-store.ts, findIdempotencyKey), at once.
-- name: find_idempotency_keys
SELECT key, request_hash, result FROM idempotency_keys WHERE key = ANY ($1::text[])

-- Order by the column, not the text alias (which would put version 9 after version 10).
-- name: load_snapshot
SELECT s.version::text AS version, s.state FROM snapshots s WHERE s.stream_id = $1 AND s.schema_version = $2
 ORDER BY s.version DESC LIMIT 1

-- name: save_snapshot
INSERT INTO snapshots (stream_id, version, schema_version, state) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (stream_id, version) DO NOTHING

-- Row locks in id order, the same order chronicle_append takes them in: no deadlock between the two.
-- name: lock_streams
SELECT 1 FROM streams WHERE stream_id = ANY ($1::text[]) ORDER BY stream_id FOR UPDATE

-- The backend whose transaction holds the log head's row lock right now: the row's xmax names it.
-- name: append_blocker
SELECT a.pid, a.application_name, COALESCE(a.state, '') AS state,
       (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::bigint::text AS age_ms
  FROM event_log_head h JOIN pg_stat_activity a ON a.backend_xid = h.xmax
 WHERE h.xmax <> '0'::xid AND a.pid <> pg_backend_pid()
