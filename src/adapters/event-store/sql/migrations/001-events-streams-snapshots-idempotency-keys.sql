
CREATE SEQUENCE IF NOT EXISTS events_global_position_seq AS BIGINT;

CREATE TABLE IF NOT EXISTS streams (
  stream_id       TEXT COLLATE "C" PRIMARY KEY,  -- byte order: ids compare the same everywhere
  aggregate_type  TEXT        NOT NULL,
  version         BIGINT      NOT NULL CHECK (version > 0),     -- number of events in the stream
  created_at      TIMESTAMPTZ NOT NULL,
  updated_at      TIMESTAMPTZ NOT NULL                          -- recorded_at of its last event
);

CREATE TABLE IF NOT EXISTS events (
  global_position      BIGINT      NOT NULL DEFAULT nextval('events_global_position_seq'),
  event_id             UUID        NOT NULL PRIMARY KEY,
  stream_id            TEXT COLLATE "C" NOT NULL REFERENCES streams (stream_id),
  stream_version       BIGINT      NOT NULL CHECK (stream_version > 0),  -- 1 for a stream's first event
  aggregate_type       TEXT        NOT NULL,
  event_type           TEXT        NOT NULL,
  event_data           JSONB       NOT NULL,
  event_schema_version INT         NOT NULL DEFAULT 1,
  recorded_at          TIMESTAMPTZ NOT NULL,                     -- microseconds; never decreases within a stream
  created_by           TEXT        NOT NULL,
  metadata             JSONB       NOT NULL DEFAULT '{}',        -- correlationId, causationId, clientAddress, ...
  -- The writing transaction's id. Sequences hand out positions at INSERT, not at COMMIT, so a reader of
  -- global order follows (transaction_id, global_position) and stops below the oldest open transaction.
  transaction_id       XID8        NOT NULL DEFAULT pg_current_xact_id(),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
  CONSTRAINT events_global_position_key UNIQUE (global_position)
);
CREATE INDEX IF NOT EXISTS events_commit_order_idx ON events (transaction_id, global_position);
CREATE INDEX IF NOT EXISTS events_stream_time_idx ON events (stream_id, recorded_at);

-- Append-only, enforced by the database for every role, not only by this code.
CREATE OR REPLACE FUNCTION chronicle_events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP USING ERRCODE = 'CL001';
END $$;
DROP TRIGGER IF EXISTS events_no_update_delete ON events;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION chronicle_events_are_immutable();
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION chronicle_events_are_immutable();

CREATE TABLE IF NOT EXISTS snapshots (
  stream_id       TEXT COLLATE "C" NOT NULL,
  version         BIGINT      NOT NULL,   -- the stream version the state includes
  schema_version  INT         NOT NULL,   -- of the state's JSON shape; a mismatch is ignored on load
  state           JSONB       NOT NULL,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (stream_id, version)
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
  key           TEXT        PRIMARY KEY,
  request_hash  TEXT        NOT NULL,
  result        JSONB       NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL
);

-- One round trip, one transaction: check expected versions, append every stream's events, record the
-- idempotency key. p = {streams: [{streamId, aggregateType, expected, events: [{eventId, type, data,
-- schemaVersion, metadata}]}], createdBy, idempotency: {key, requestHash, result} | null}.
-- expected: 'any' | 'no_stream' | 'stream_exists' | <version>. Streams are locked in stream id order.
-- A conflict found before anything is written is RETURNed; one found after (a concurrent creator of the
-- same new stream, a concurrent holder of the same idempotency key) is RAISEd so the whole append rolls back.
CREATE OR REPLACE FUNCTION chronicle_append(p JSONB) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  s JSONB;
  ids UUID[];
  found_count INT;
  cur BIGINT;
  last_at TIMESTAMPTZ;
  ts TIMESTAMPTZ := clock_timestamp();
  expected JSONB;
  versions JSONB := '{}';
  out_events JSONB := '[]';
  out_streams JSONB := '[]';
  evs JSONB;
  result JSONB;
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
                     ORDER BY transaction_id, global_position) FROM events WHERE event_id = ANY (ids)),
        'streams', (SELECT jsonb_agg(jsonb_build_object('streamId', stream_id, 'version', v) ORDER BY stream_id)
                      FROM (SELECT stream_id, max(stream_version) v FROM events WHERE event_id = ANY (ids) GROUP BY stream_id) m));
    END IF;
    RETURN jsonb_build_object('status', 'event_ids_conflict',
      'eventIds', (SELECT jsonb_agg(event_id) FROM events WHERE event_id = ANY (ids)));
  END IF;

  -- Lock every stream (in id order) and check its expected version before writing anything.
  FOR s IN SELECT value FROM jsonb_array_elements(p->'streams') ORDER BY value->>'streamId' LOOP
    SELECT version, updated_at INTO cur, last_at FROM streams WHERE stream_id = s->>'streamId' FOR UPDATE;
    IF NOT FOUND THEN cur := 0; END IF;
    expected := s->'expected';
    IF (expected = '"no_stream"' AND cur <> 0)
       OR (expected = '"stream_exists"' AND cur = 0)
       OR (jsonb_typeof(expected) = 'number' AND cur <> (expected #>> '{}')::BIGINT) THEN
      RETURN jsonb_build_object('status', 'version_conflict', 'streamId', s->>'streamId',
                                'expected', expected, 'actual', cur);
    END IF;
    IF last_at IS NOT NULL AND last_at > ts THEN ts := last_at; END IF;  -- time never runs backwards in a stream
    versions := versions || jsonb_build_object(s->>'streamId', cur);
  END LOOP;

  FOR s IN SELECT value FROM jsonb_array_elements(p->'streams') ORDER BY value->>'streamId' LOOP
    cur := (versions->>(s->>'streamId'))::BIGINT;
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

    WITH ins AS (
      INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, event_data,
                          event_schema_version, recorded_at, created_by, metadata)
      SELECT (x->>'eventId')::uuid, s->>'streamId', cur + ord, s->>'aggregateType', x->>'type', x->'data',
             COALESCE((x->>'schemaVersion')::INT, 1), ts, p->>'createdBy', COALESCE(x->'metadata', '{}')
        FROM jsonb_array_elements(s->'events') WITH ORDINALITY AS t(x, ord)
        ORDER BY ord
      RETURNING event_id, stream_id, stream_version, global_position
    )
    SELECT jsonb_agg(jsonb_build_object('eventId', event_id, 'streamId', stream_id, 'streamVersion', stream_version,
             'globalPosition', global_position::text) ORDER BY stream_version) INTO evs FROM ins;
    out_events := out_events || evs;
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
