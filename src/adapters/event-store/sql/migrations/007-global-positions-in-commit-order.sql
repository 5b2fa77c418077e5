
-- $all in true commit order, whatever the number of writer processes (docs/architecture.md, "Global order").
-- Until now positions came from a sequence (handed out at INSERT, not at COMMIT) and $all was ordered by
-- (transaction_id, global_position); xid order is not commit order either, so two writer processes could
-- list a stream's versions out of order. From here on every append takes its positions from one counter
-- row, event_log_head, as its last step; the row lock is held until COMMIT, so positions are dense, gap-free
-- and visible strictly in order: a follower reads "position > n" and can never skip a late commit.
--
-- Events stored before this migration keep their positions (the Merkle log's leaves include them) and their
-- order: if their (transaction_id, global_position) order already agrees with their positions, which is the
-- usual case, nothing is special about them. If not, legacy_through records the last of them, and the store
-- reads positions up to it in their old order, then everything after it by position.
LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;  -- waits for appends in flight, holds off new ones until COMMIT

CREATE TABLE IF NOT EXISTS event_log_head (
  singleton      BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
  position       BIGINT NOT NULL CHECK (position >= 0),        -- the last global position handed out
  legacy_through BIGINT NOT NULL CHECK (legacy_through >= 0)   -- 0: every position is in commit order
);
INSERT INTO event_log_head (position, legacy_through)
SELECT COALESCE((SELECT max(global_position) FROM events), 0),
       CASE WHEN (SELECT bool_and(global_position > previous) FROM (
                    SELECT global_position, lag(global_position) OVER (ORDER BY transaction_id, global_position) AS previous
                      FROM events) o WHERE previous IS NOT NULL) IS FALSE
            THEN (SELECT max(global_position) FROM events) ELSE 0 END
ON CONFLICT (singleton) DO NOTHING;

-- The head only moves forward, and legacy_through never changes: enforced here, not only by this code.
CREATE OR REPLACE FUNCTION chronicle_log_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.position < OLD.position OR NEW.legacy_through <> OLD.legacy_through THEN
    RAISE EXCEPTION 'event_log_head only moves forward: % is not allowed', TG_OP USING ERRCODE = 'CL001';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS event_log_head_forward ON event_log_head;
CREATE TRIGGER event_log_head_forward BEFORE UPDATE OR DELETE ON event_log_head
  FOR EACH ROW EXECUTE FUNCTION chronicle_log_head_forward();
DROP TRIGGER IF EXISTS event_log_head_no_truncate ON event_log_head;
CREATE TRIGGER event_log_head_no_truncate BEFORE TRUNCATE ON event_log_head
  FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();

-- No insert may take a position any other way (a writer still on the old code fails instead of mis-ordering).
ALTER TABLE events ALTER COLUMN global_position DROP DEFAULT;
-- (transaction_id, global_position) orders only legacy events now; a store without them needs no such index.
DO $$ BEGIN
  IF (SELECT legacy_through FROM event_log_head) = 0 THEN DROP INDEX IF EXISTS events_commit_order_idx; END IF;
END $$;

-- As in migration 4, with positions from event_log_head, taken after every check and before the first write.
CREATE OR REPLACE FUNCTION chronicle_append(p JSONB) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  s JSONB;
  ids UUID[];
  found_count INT;
  cur BIGINT;
  last_at TIMESTAMPTZ;
  prev BYTEA;
  heads JSONB := '{}';
  ts TIMESTAMPTZ := clock_timestamp();
  expected JSONB;
  versions JSONB := '{}';
  out_events JSONB := '[]';
  out_streams JSONB := '[]';
  evs JSONB;
  result JSONB;
  total BIGINT;
  base BIGINT;
BEGIN
  SELECT array_agg((x->>'eventId')::uuid) INTO ids
    FROM jsonb_array_elements(p->'streams') st, jsonb_array_elements(st->'events') x;

  -- A retried append of the same event ids answers with the original result.
  SELECT count(*) INTO found_count FROM events WHERE event_id = ANY (ids);
  IF found_count > 0 THEN
    IF found_count = cardinality(ids) AND NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements(p->'streams') st, jsonb_array_elements(st->'events') x
      JOIN events e ON e.event_id = (x->>'eventId')::uuid
      WHERE e.stream_id <> st->>'streamId' OR e.event_type <> x->>'type') THEN
      RETURN jsonb_build_object('status', 'ok', 'replayed', true,
        'transactionId', (SELECT min(transaction_id)::text FROM events WHERE event_id = ANY (ids)),
        'recordedAt', (SELECT to_char(min(recorded_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                         FROM events WHERE event_id = ANY (ids)),
        'events', (SELECT jsonb_agg(jsonb_build_object('eventId', event_id, 'streamId', stream_id,
                     'streamVersion', stream_version, 'globalPosition', global_position::text)
                     ORDER BY global_position) FROM events WHERE event_id = ANY (ids)),
        'streams', (SELECT jsonb_agg(jsonb_build_object('streamId', stream_id, 'version', v) ORDER BY stream_id)
                      FROM (SELECT stream_id, max(stream_version) v FROM events WHERE event_id = ANY (ids) GROUP BY stream_id) m));
    END IF;
    RETURN jsonb_build_object('status', 'event_ids_conflict',
      'eventIds', (SELECT jsonb_agg(event_id) FROM events WHERE event_id = ANY (ids)));
  END IF;

  -- Lock every stream (in id order) and check its expected version before writing anything.
  FOR s IN SELECT value FROM jsonb_array_elements(p->'streams') ORDER BY value->>'streamId' LOOP
    SELECT version, updated_at, last_hash INTO cur, last_at, prev FROM streams WHERE stream_id = s->>'streamId' FOR UPDATE;
    IF NOT FOUND THEN cur := 0; prev := NULL; END IF;
    expected := s->'expected';
    IF (expected = '"no_stream"' AND cur <> 0)
       OR (expected = '"stream_exists"' AND cur = 0)
       OR (jsonb_typeof(expected) = 'number' AND cur <> (expected #>> '{}')::BIGINT) THEN
      RETURN jsonb_build_object('status', 'version_conflict', 'streamId', s->>'streamId',
                                'expected', expected, 'actual', cur);
    END IF;
    IF last_at IS NOT NULL AND last_at > ts THEN ts := last_at; END IF;  -- time never runs backwards in a stream
    versions := versions || jsonb_build_object(s->>'streamId', cur);
    heads := heads || jsonb_build_object(s->>'streamId', encode(prev, 'hex'));
  END LOOP;

  -- Every check passed: take this append's global positions from the log head. Its row lock is held until
  -- COMMIT, so the next append anywhere takes its positions only once this one is visible: positions are
  -- dense and in commit order. From here on nothing waits for a lock another appender could hold (every
  -- uncommitted event, stream or idempotency row belongs to the head's holder), so this adds no deadlock.
  total := (SELECT count(*) FROM jsonb_array_elements(p->'streams') st, jsonb_array_elements(st->'events') x);
  UPDATE event_log_head SET position = position + total WHERE singleton RETURNING position - total INTO base;

  FOR s IN SELECT value FROM jsonb_array_elements(p->'streams') ORDER BY value->>'streamId' LOOP
    cur := (versions->>(s->>'streamId'))::BIGINT;
    prev := decode(heads->>(s->>'streamId'), 'hex');
    IF cur = 0 THEN
      INSERT INTO streams (stream_id, aggregate_type, version, created_at, updated_at)
        VALUES (s->>'streamId', s->>'aggregateType', jsonb_array_length(s->'events'), ts, ts)
        ON CONFLICT (stream_id) DO NOTHING;
      IF NOT FOUND THEN  -- created concurrently since we looked
        RAISE EXCEPTION 'version_conflict' USING ERRCODE = 'CL409',
          DETAIL = jsonb_build_object('streamId', s->>'streamId', 'expected', s->'expected')::text;
      END IF;
    ELSE
      UPDATE streams SET version = version + jsonb_array_length(s->'events'), updated_at = ts
        WHERE stream_id = s->>'streamId';
    END IF;

    WITH chain AS MATERIALIZED (
      SELECT * FROM chronicle_chain(prev, ARRAY(
        SELECT decode(x->>'contentHash', 'hex') FROM jsonb_array_elements(s->'events') WITH ORDINALITY AS t(x, ord) ORDER BY ord))
    ), head AS (
      UPDATE streams SET last_hash = (SELECT c.event_hash FROM chain c ORDER BY c.ord DESC LIMIT 1)
        WHERE stream_id = s->>'streamId'
    ), ins AS (
      INSERT INTO events (global_position, event_id, stream_id, stream_version, aggregate_type, event_type, event_data,
                          event_schema_version, recorded_at, created_by, metadata, prev_hash, content_hash, event_hash)
      SELECT base + t.ord, (x->>'eventId')::uuid, s->>'streamId', cur + t.ord, s->>'aggregateType', x->>'type', x->'data',
             COALESCE((x->>'schemaVersion')::INT, 1), ts, p->>'createdBy', COALESCE(x->'metadata', '{}'),
             c.prev_hash, decode(x->>'contentHash', 'hex'), c.event_hash
        FROM jsonb_array_elements(s->'events') WITH ORDINALITY AS t(x, ord)
        JOIN chain c ON c.ord = t.ord
        ORDER BY t.ord
      RETURNING event_id, stream_id, stream_version, global_position
    )
    SELECT jsonb_agg(jsonb_build_object('eventId', event_id, 'streamId', stream_id, 'streamVersion', stream_version,
             'globalPosition', global_position::text) ORDER BY stream_version) INTO evs FROM ins;
    out_events := out_events || evs;
    base := base + jsonb_array_length(s->'events');
    out_streams := out_streams || jsonb_build_array(jsonb_build_object('streamId', s->>'streamId',
                     'version', cur + jsonb_array_length(s->'events')));
  END LOOP;

  result := jsonb_build_object('status', 'ok', 'replayed', false, 'transactionId', pg_current_xact_id()::text,
    'recordedAt', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'events', out_events, 'streams', out_streams);

  IF jsonb_typeof(p->'idempotency') = 'object' THEN
    INSERT INTO idempotency_keys (key, request_hash, result, created_at)
      VALUES (p->'idempotency'->>'key', p->'idempotency'->>'requestHash',
              jsonb_build_object('append', result, 'command', p->'idempotency'->'result'), ts)
      ON CONFLICT (key) DO NOTHING;
    IF NOT FOUND THEN  -- the same key committed concurrently: undo this append, let the caller read that one
      RAISE EXCEPTION 'idempotency_key_exists' USING ERRCODE = 'CL410', DETAIL = p->'idempotency'->>'key';
    END IF;
  END IF;
  RETURN result;
END $$;
