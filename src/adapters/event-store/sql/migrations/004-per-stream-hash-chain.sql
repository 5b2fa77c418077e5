
-- Tamper evidence, part 1 (docs/audit.md): every event stores its stream's previous link, the SHA-256 of its
-- content (chronicle-content-v1, computed by the writer in TypeScript) and its own link
-- event_hash = SHA-256(prev_hash || content_hash), computed here, under the stream row lock that every append
-- already takes: no global lock, no extra round trip. A stream's first event links to 32 zero bytes.
-- Rows appended before this migration keep NULLs: the verifier reports them as unchained, and a stream that
-- had such events starts its chain at its next event (prev_hash zero).
ALTER TABLE events ADD COLUMN IF NOT EXISTS prev_hash BYTEA CHECK (octet_length(prev_hash) = 32);
ALTER TABLE events ADD COLUMN IF NOT EXISTS content_hash BYTEA CHECK (octet_length(content_hash) = 32);
ALTER TABLE events ADD COLUMN IF NOT EXISTS event_hash BYTEA CHECK (octet_length(event_hash) = 32);
ALTER TABLE streams ADD COLUMN IF NOT EXISTS last_hash BYTEA;

-- The chain over one append's events of one stream, in order: (ord, prev_hash, event_hash) for each.
CREATE OR REPLACE FUNCTION chronicle_chain(head BYTEA, contents BYTEA[])
RETURNS TABLE (ord BIGINT, prev_hash BYTEA, event_hash BYTEA) LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  h BYTEA := COALESCE(head, decode(repeat('00', 32), 'hex'));
BEGIN
  FOR i IN 1 .. COALESCE(cardinality(contents), 0) LOOP
    IF contents[i] IS NULL OR octet_length(contents[i]) <> 32 THEN
      RAISE EXCEPTION 'content hash % of the append is missing or not 32 bytes', i USING ERRCODE = 'CL412';
    END IF;
    ord := i; prev_hash := h; event_hash := sha256(h || contents[i]); h := event_hash;
    RETURN NEXT;
  END LOOP;
END $$;

-- As in migration 1, plus the chain: each event carries contentHash (hex) in the payload.
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
      INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, event_data,
                          event_schema_version, recorded_at, created_by, metadata, prev_hash, content_hash, event_hash)
      SELECT (x->>'eventId')::uuid, s->>'streamId', cur + t.ord, s->>'aggregateType', x->>'type', x->'data',
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
