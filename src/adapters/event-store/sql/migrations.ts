// The event store's schema, as ordered migrations applied once each at start-up (see migrate.ts).
// Written for PostgreSQL 15+ and PGlite (the same SQL runs on both). Migration 7 made $all's order a counter
// row's (docs/architecture.md, "Global order").
// Never edit a migration that has shipped: add a new one.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, streams, snapshots, idempotency keys',
    sql: /* sql */ `
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
`,
  },
  {
    version: 2,
    name: 'append fast path guard',
    sql: /* sql */ `
-- The fast append (sql-event-store.ts, FAST_APPEND) is one plain statement: when only some of its streams
-- are at the expected version, their version bumps must not survive, so it aborts the whole statement.
CREATE OR REPLACE FUNCTION chronicle_all_or_none(updated BIGINT, wanted BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF updated <> 0 AND updated <> wanted THEN
    RAISE EXCEPTION 'version_conflict on % of % streams', wanted - updated, wanted USING ERRCODE = 'CL411';
  END IF;
  RETURN updated = wanted;
END $$;
`,
  },
  {
    version: 3,
    name: 'relay checkpoints',
    sql: /* sql */ `
-- The outbox relay's position in $all, one row per relay (src/application/relay.ts). Beside the events, so a
-- backup of the store carries it.
CREATE TABLE IF NOT EXISTS relay_checkpoints (
  name        TEXT PRIMARY KEY,
  position    BIGINT NOT NULL CHECK (position >= 0),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 4,
    name: 'per-stream hash chain',
    sql: /* sql */ `
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
`,
  },
  {
    version: 5,
    name: 'merkle log and signed checkpoints',
    sql: /* sql */ `
-- Tamper evidence, part 2 (docs/audit.md): the RFC 9162 Merkle log the sealer (src/application/sealer.ts)
-- extends in $all's commit order. merkle_leaves: leaf i is the event at global_position, with its leaf hash
-- SHA-256(0x00 || chronicle-event-v1). merkle_nodes: the hash of every complete aligned subtree above the
-- leaves (level L, index i covers leaves i*2^L .. (i+1)*2^L - 1), so any proof for any size takes O(log n)
-- rows. merkle_checkpoints: each signed (size, root, time). All three append-only, like events.
CREATE OR REPLACE FUNCTION chronicle_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP USING ERRCODE = 'CL001';
END $$;

CREATE TABLE IF NOT EXISTS merkle_leaves (
  leaf_index       BIGINT PRIMARY KEY CHECK (leaf_index >= 0),
  global_position  BIGINT NOT NULL UNIQUE,
  event_id         UUID   NOT NULL UNIQUE,
  leaf_hash        BYTEA  NOT NULL CHECK (octet_length(leaf_hash) = 32)
);
CREATE TABLE IF NOT EXISTS merkle_nodes (
  level       SMALLINT NOT NULL CHECK (level > 0),
  node_index  BIGINT   NOT NULL CHECK (node_index >= 0),
  hash        BYTEA    NOT NULL CHECK (octet_length(hash) = 32),
  PRIMARY KEY (level, node_index)
);
CREATE TABLE IF NOT EXISTS merkle_checkpoints (
  tree_size  BIGINT PRIMARY KEY CHECK (tree_size > 0),
  root_hash  BYTEA  NOT NULL CHECK (octet_length(root_hash) = 32),
  issued_at  TEXT   NOT NULL,   -- exactly as signed
  key_id     TEXT   NOT NULL,
  signature  TEXT   NOT NULL    -- Ed25519, base64
);
DROP TRIGGER IF EXISTS merkle_leaves_append_only ON merkle_leaves;
CREATE TRIGGER merkle_leaves_append_only BEFORE UPDATE OR DELETE ON merkle_leaves FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_leaves_no_truncate ON merkle_leaves;
CREATE TRIGGER merkle_leaves_no_truncate BEFORE TRUNCATE ON merkle_leaves FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_nodes_append_only ON merkle_nodes;
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_nodes_no_truncate ON merkle_nodes;
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_checkpoints_append_only ON merkle_checkpoints;
CREATE TRIGGER merkle_checkpoints_append_only BEFORE UPDATE OR DELETE ON merkle_checkpoints FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_checkpoints_no_truncate ON merkle_checkpoints;
CREATE TRIGGER merkle_checkpoints_no_truncate BEFORE TRUNCATE ON merkle_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
`,
  },
  {
    version: 6,
    name: 'api keys',
    sql: /* sql */ `
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
`,
  },
  {
    version: 7,
    name: 'global positions in commit order',
    sql: /* sql */ `
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
`,
  },
];
