-- The common append as one plain statement (sql-event-store.ts: every stream is either new (expected
-- no_stream, sent as 0) or expected at an exact version), prepared once per connection.
-- Group commit sends the appends of many commands as this one statement: their streams are disjoint (the
-- command handler holds each account's lock), so it is one transaction and one WAL flush for all of them.
-- It costs PostgreSQL about a third of the PL/pgSQL chronicle_append (measured: 0.27 against 0.7 ms of
-- server CPU). Anything else, and any surprise (a version mismatch, a stream that exists already, an event id
-- or an idempotency key already stored), goes to chronicle_append for the exact answer.
-- Existing rows are locked in stream id order first (the order chronicle_append and exclusive() use). The
-- positions come next, from event_log_head (migration 7): its row lock is taken only once every existing
-- stream was locked and updated (head's WHERE needs ok, which needs upd) and is held until COMMIT, so
-- positions commit in order. New streams and idempotency keys are inserted only after that, as
-- chronicle_append does: only the head's holder ever has an uncommitted stream or key row, so it never waits
-- for another appender (no deadlock). A key's row holds what chronicle_append would store: the append's
-- result (that request's events and streams) and the command's part.
-- $1..$4, $14: one element per stream (id, expected version or 0 for a new stream, event count, aggregate
-- type, its request's idempotency key or null), in stream id order; $5..$13: one element per event (id,
-- stream id, 1-based index in its stream, type, data, schema version, metadata, created by, content hash in
-- hex); $15..$17: one element per request with an idempotency key (key, request hash, command part).
-- name: fast_append
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS i(stream_id, expected, n, aggregate_type)
), locked AS MATERIALIZED (
  SELECT s.stream_id, s.updated_at, s.last_hash FROM streams s WHERE s.stream_id = ANY ($1::text[]) ORDER BY s.stream_id FOR UPDATE
), ts AS MATERIALIZED (
  SELECT GREATEST(clock_timestamp(), max(updated_at)) AS t FROM locked
), ev AS MATERIALIZED (
  SELECT * FROM unnest($5::uuid[], $6::text[], $7::bigint[], $8::text[], $9::jsonb[], $10::int[], $11::jsonb[], $12::text[], $13::text[])
    AS e(event_id, stream_id, ord, event_type, event_data, schema_version, metadata, created_by, content_hash)
), chain AS MATERIALIZED (
  SELECT i.stream_id, c.ord, c.prev_hash, c.event_hash
    FROM input i LEFT JOIN locked l ON l.stream_id = i.stream_id
   CROSS JOIN LATERAL chronicle_chain(CASE WHEN i.expected = 0 THEN NULL ELSE l.last_hash END,
      ARRAY(SELECT decode(e.content_hash, 'hex') FROM ev e WHERE e.stream_id = i.stream_id ORDER BY e.ord)) c
), upd AS (
  UPDATE streams s SET version = s.version + i.n, updated_at = (SELECT t FROM ts),
         last_hash = (SELECT c.event_hash FROM chain c WHERE c.stream_id = s.stream_id ORDER BY c.ord DESC LIMIT 1)
    FROM input i WHERE s.stream_id = i.stream_id AND s.version = i.expected
  RETURNING s.stream_id
), ok AS MATERIALIZED (
  SELECT chronicle_all_or_none((SELECT count(*) FROM upd), (SELECT count(*) FROM input WHERE expected > 0)) AS all_updated
), head AS MATERIALIZED (
  UPDATE event_log_head SET position = position + cardinality($5::uuid[])
   WHERE singleton AND (SELECT all_updated FROM ok)
  RETURNING position - cardinality($5::uuid[]) AS base
), created AS (
  INSERT INTO streams (stream_id, aggregate_type, version, created_at, updated_at, last_hash)
  SELECT i.stream_id, i.aggregate_type, i.n, (SELECT t FROM ts), (SELECT t FROM ts),
         (SELECT c.event_hash FROM chain c WHERE c.stream_id = i.stream_id ORDER BY c.ord DESC LIMIT 1)
    FROM input i
   WHERE i.expected = 0 AND (SELECT base FROM head) IS NOT NULL
  ON CONFLICT (stream_id) DO NOTHING
  RETURNING stream_id
), created_all AS MATERIALIZED (
  -- Every new stream inserted, else the statement fails (CL411) and nothing stays, the head's move included.
  -- all_or_none lets 0 of n pass (for the check before the head), so each side counts one more here.
  SELECT chronicle_all_or_none((SELECT count(*) FROM created) + 1, (SELECT count(*) FROM input WHERE expected = 0) + 1) AS all_created
), ins AS (
  INSERT INTO events (global_position, event_id, stream_id, stream_version, aggregate_type, event_type, event_data,
                      event_schema_version, recorded_at, created_by, metadata, prev_hash, content_hash, event_hash)
  SELECT (SELECT base FROM head) + row_number() OVER (ORDER BY e.stream_id COLLATE "C", e.ord),
         e.event_id, e.stream_id, i.expected + e.ord, i.aggregate_type, e.event_type, e.event_data,
         e.schema_version, (SELECT t FROM ts), e.created_by, e.metadata, c.prev_hash, decode(e.content_hash, 'hex'), c.event_hash
    FROM ev e
    JOIN input i ON i.stream_id = e.stream_id
    JOIN chain c ON c.stream_id = e.stream_id AND c.ord = e.ord
   WHERE (SELECT all_updated FROM ok)
   ORDER BY e.stream_id, e.ord
  RETURNING event_id, stream_id, stream_version, global_position
), keyed AS MATERIALIZED (
  SELECT * FROM unnest($15::text[], $16::text[], $17::jsonb[]) AS k(key, request_hash, command)
), stream_keys AS MATERIALIZED (
  SELECT * FROM unnest($1::text[], $14::text[]) AS sk(stream_id, key) WHERE sk.key IS NOT NULL
), remembered AS (
  INSERT INTO idempotency_keys (key, request_hash, result, created_at)
  SELECT k.key, k.request_hash, jsonb_build_object('append', jsonb_build_object(
           'status', 'ok', 'replayed', false, 'transactionId', pg_current_xact_id()::text,
           'recordedAt', {{utc_micros (SELECT t FROM ts)}},
           'events', (SELECT jsonb_agg(jsonb_build_object('eventId', n.event_id, 'streamId', n.stream_id,
                                'streamVersion', n.stream_version, 'globalPosition', n.global_position::text) ORDER BY n.global_position)
                        FROM ins n JOIN stream_keys sk ON sk.stream_id = n.stream_id WHERE sk.key = k.key),
           'streams', (SELECT jsonb_agg(jsonb_build_object('streamId', i.stream_id, 'version', i.expected + i.n) ORDER BY i.stream_id COLLATE "C")
                         FROM input i JOIN stream_keys sk ON sk.stream_id = i.stream_id WHERE sk.key = k.key)),
         'command', k.command), (SELECT t FROM ts)
    FROM keyed k
   WHERE (SELECT base FROM head) IS NOT NULL
  ON CONFLICT (key) DO NOTHING
  RETURNING key
), remembered_all AS MATERIALIZED (
  -- Every key stored, else the statement fails (CL411), as created_all.
  SELECT chronicle_all_or_none((SELECT count(*) FROM remembered) + 1, cardinality($15::text[]) + 1) AS all_remembered
)
SELECT ok.all_updated, pg_current_xact_id()::text AS transaction_id,
       {{utc_micros (SELECT t FROM ts)}} AS recorded_at,
       ins.event_id::text AS event_id, ins.stream_id, ins.stream_version::text AS stream_version,
       ins.global_position::text AS global_position
  FROM ok CROSS JOIN created_all CROSS JOIN remembered_all LEFT JOIN ins ON true
 ORDER BY ins.global_position
