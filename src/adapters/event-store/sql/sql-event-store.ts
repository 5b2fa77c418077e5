// The event store over SQL, shared by the PostgreSQL and PGlite adapters: same statements, same results.
// Appends are one call of the chronicle_append() PL/pgSQL function (one round trip, one transaction);
// everything read comes back as text for bigint, xid8 and time, so both drivers parse it identically.
import type {
  AllSlice, AppendBlocker, AppendedEvent, AppendRequest, NewEvent, AppendResult, AppendSuccess, EventStore, ReadStreamOptions, RecordedEvent, Snapshot,
  StoredIdempotency, StreamInfo, StreamSlice,
} from '../../../ports/event-store.js';
import { createHash } from 'node:crypto';
import { contentHash } from '../../../domain/audit/canonical.js';
import { GROUP_COMMIT_DEFAULTS, GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { migrate } from './migrate.js';
import { sqlErrorOf, type SqlClient, type SqlQueryable } from './sql-client.js';

const UTC_MICROS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
const eventColumns = (e: string) => `${e}.event_id::text AS event_id, ${e}.stream_id, ${e}.stream_version::text AS stream_version,
  ${e}.global_position::text AS global_position, ${e}.transaction_id::text AS transaction_id, ${e}.aggregate_type,
  ${e}.event_type, ${e}.event_data, ${e}.event_schema_version, ${e}.created_by, ${e}.metadata,
  to_char(${e}.recorded_at AT TIME ZONE 'UTC', ${UTC_MICROS}) AS recorded_at,
  encode(${e}.prev_hash, 'hex') AS prev_hash, encode(${e}.event_hash, 'hex') AS event_hash`;

interface EventRow {
  event_id: string;
  stream_id: string;
  stream_version: string;
  global_position: string;
  transaction_id: string;
  aggregate_type: string;
  event_type: string;
  event_data: Record<string, unknown>;
  event_schema_version: number;
  created_by: string;
  metadata: Record<string, unknown>;
  recorded_at: string;
  prev_hash: string | null;
  event_hash: string | null;
}

/** BIGINT text to number, refusing to round: a position past 2^53 is a condition to hear about, not hide. */
export function toSafeNumber(text: string | number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`integer ${text} is beyond 2^53-1`);
  return value;
}

const toEvent = (row: EventRow): RecordedEvent => ({
  eventId: row.event_id,
  streamId: row.stream_id,
  streamVersion: toSafeNumber(row.stream_version),
  globalPosition: toSafeNumber(row.global_position),
  transactionId: row.transaction_id,
  aggregateType: row.aggregate_type,
  type: row.event_type,
  data: row.event_data,
  schemaVersion: Number(row.event_schema_version),
  recordedAt: row.recorded_at,
  createdBy: row.created_by,
  metadata: row.metadata,
  prevHash: row.prev_hash,
  eventHash: row.event_hash,
});

// The common append, made one plain statement (prepared once per connection): every stream exists and is
// expected at an exact version, no idempotency key. Concurrent such appends are group-committed: the
// GroupCommit below sends the appends of many commands (their streams are disjoint: the command handler
// holds each account's lock) as one statement, one transaction, one WAL flush. It costs PostgreSQL about a third of the PL/pgSQL
// chronicle_append (measured: 0.27 against 0.7 ms of server CPU). Anything else, and any surprise (a
// version mismatch, an event id already stored), goes to chronicle_append, which gives the exact answer.
// Rows are locked in stream id order first (the order chronicle_append and exclusive() use). The positions
// come last, from event_log_head (migration 7): its row lock is taken only once every stream was locked and
// updated (head's WHERE needs ok, which needs upd) and is held until COMMIT, so positions commit in order.
const FAST_APPEND = `
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
  SELECT l.stream_id, c.ord, c.prev_hash, c.event_hash
    FROM locked l CROSS JOIN LATERAL chronicle_chain(l.last_hash,
      ARRAY(SELECT decode(e.content_hash, 'hex') FROM ev e WHERE e.stream_id = l.stream_id ORDER BY e.ord)) c
), upd AS (
  UPDATE streams s SET version = s.version + i.n, updated_at = (SELECT t FROM ts),
         last_hash = (SELECT c.event_hash FROM chain c WHERE c.stream_id = s.stream_id ORDER BY c.ord DESC LIMIT 1)
    FROM input i WHERE s.stream_id = i.stream_id AND s.version = i.expected
  RETURNING s.stream_id
), ok AS MATERIALIZED (
  SELECT chronicle_all_or_none((SELECT count(*) FROM upd), cardinality($1::text[])) AS all_updated
), head AS MATERIALIZED (
  UPDATE event_log_head SET position = position + cardinality($5::uuid[])
   WHERE singleton AND (SELECT all_updated FROM ok)
  RETURNING position - cardinality($5::uuid[]) AS base
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
)
SELECT ok.all_updated, pg_current_xact_id()::text AS transaction_id,
       to_char((SELECT t FROM ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at,
       ins.event_id::text AS event_id, ins.stream_id, ins.stream_version::text AS stream_version,
       ins.global_position::text AS global_position
  FROM ok LEFT JOIN ins ON true
 ORDER BY ins.global_position`;

// SQLSTATEs raised by chronicle_append (see migrations.ts) and PostgreSQL's unique violation.
const PARTIAL_FAST_APPEND = 'CL411';
/** A race on a new stream or event id is settled on the next try; the bound is only a backstop. */
const NEW_STREAM_RACE_RETRIES_MAX = 3;
const RACED_ON_NEW_STREAM = 'CL409';
const RACED_ON_IDEMPOTENCY_KEY = 'CL410';
const UNIQUE_VIOLATION = '23505';

/** node:crypto's SHA-256 in the shape the audit core takes (src/domain does no I/O and imports no node:*). */
export const sha256 = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest();

export class SqlEventStore implements EventStore {
  private readonly groupCommit: GroupCommit | undefined;
  /** Each new event's content hash, computed once even when the fast path falls back to chronicle_append. */
  private readonly contentHashes = new WeakMap<NewEvent, string>();

  private constructor(
    private readonly db: SqlClient,
    groupCommit: GroupCommitOptions | false,
    /** event_log_head.legacy_through: fixed by migration 7, so read once. */
    private readonly legacyThrough: number,
  ) {
    this.groupCommit = groupCommit === false ? undefined : new GroupCommit((batch) => this.fastAppend(batch), groupCommit);
  }

  /** Runs the migrations, then serves. */
  static async open(db: SqlClient, options: { groupCommit?: GroupCommitOptions | false } = {}): Promise<SqlEventStore> {
    await migrate(db);
    return new SqlEventStore(db, options.groupCommit ?? GROUP_COMMIT_DEFAULTS, await legacyThroughOf(db));
  }

  async append(request: AppendRequest, attempt = 1): Promise<AppendResult> {
    // First, so that an event with no canonical form fails its own request, never a group-commit batch.
    for (const s of request.streams) for (const e of s.events) this.contentHashOf(e, s.streamId, s.aggregateType, request.createdBy);
    if (request.idempotency === undefined && request.streams.every((s) => typeof s.expectedVersion === 'number' && s.expectedVersion > 0)) {
      const fast = this.groupCommit ? await this.groupCommit.submit(request) : (await this.fastAppend([request]))?.[0];
      if (fast) return fast;
    }
    const payload = {
      streams: request.streams.map((s) => ({
        streamId: s.streamId,
        aggregateType: s.aggregateType,
        expected: s.expectedVersion,
        events: s.events.map((e) => ({ ...e, contentHash: this.contentHashOf(e, s.streamId, s.aggregateType, request.createdBy) })),
      })),
      createdBy: request.createdBy,
      idempotency: request.idempotency ?? null,
    };
    let out: Record<string, unknown>;
    try {
      const rows = await this.db.query<{ r: Record<string, unknown> }>('SELECT chronicle_append($1::jsonb) AS r', [
        JSON.stringify(payload),
      ], 'chronicle_append');
      out = rows[0]!.r;
    } catch (error) {
      const sql = sqlErrorOf(error);
      if (sql?.code === RACED_ON_NEW_STREAM) {
        const detail = JSON.parse(sql.detail ?? '{}') as { streamId: string; expected: AppendRequest['streams'][number]['expectedVersion'] };
        // 'any' lost a race to create the stream, which exists now: appending again is what 'any' means.
        if (detail.expected === 'any' && attempt < NEW_STREAM_RACE_RETRIES_MAX) return this.append(request, attempt + 1);
        return { ok: false, reason: 'version_conflict', streamId: detail.streamId, expectedVersion: detail.expected, actualVersion: null };
      }
      if (sql?.code === RACED_ON_IDEMPOTENCY_KEY) return { ok: false, reason: 'idempotency_key_exists', key: sql.detail ?? '' };
      // Two appends of the same new event id at once: the loser retries once and then sees the original.
      if (sql?.code === UNIQUE_VIOLATION && String((error as { constraint?: string }).constraint) === 'events_pkey') {
        if (attempt < NEW_STREAM_RACE_RETRIES_MAX) return this.append(request, attempt + 1);
      }
      throw error;
    }
    return parseAppendResult(out);
  }

  /**
   * The event's chronicle-content-v1 hash (src/domain/audit/canonical.ts), the input of its chain link. Throws
   * CanonicalEncodingError for what has no canonical form (a float, an integer past 2^53, a lone surrogate):
   * such an event could not be verified later, so it is not stored.
   */
  private contentHashOf(event: NewEvent, streamId: string, aggregateType: string, createdBy: string): string {
    let hash = this.contentHashes.get(event);
    if (hash === undefined) {
      hash = contentHash(sha256, {
        eventId: event.eventId, streamId, aggregateType, type: event.type, schemaVersion: event.schemaVersion ?? 1,
        data: event.data, metadata: event.metadata ?? {}, createdBy,
      });
      this.contentHashes.set(event, hash);
    }
    return hash;
  }

  /**
   * FAST_APPEND for one or more requests whose streams are disjoint, in one statement: a result for each,
   * or null when it did not apply (nothing was written) and each request must be answered on its own.
   */
  private async fastAppend(requests: readonly AppendRequest[]): Promise<AppendSuccess[] | null> {
    const byStream = new Map(requests.flatMap((r) => r.streams.map((s) => [s.streamId, { stream: s, createdBy: r.createdBy }] as const)));
    const streams = [...byStream.values()].sort((a, b) => byStreamId(a.stream, b.stream));
    const events = streams.flatMap(({ stream, createdBy }) => stream.events.map((e, i) => ({
      ...e, streamId: stream.streamId, ord: i + 1, createdBy, contentHash: this.contentHashOf(e, stream.streamId, stream.aggregateType, createdBy),
    })));
    let rows: { all_updated: boolean; transaction_id: string; recorded_at: string; event_id: string; stream_id: string; stream_version: string; global_position: string }[];
    try {
      rows = await this.db.query(FAST_APPEND, [
        streams.map((s) => s.stream.streamId), streams.map((s) => s.stream.expectedVersion), streams.map((s) => s.stream.events.length),
        streams.map((s) => s.stream.aggregateType),
        events.map((e) => e.eventId), events.map((e) => e.streamId), events.map((e) => e.ord), events.map((e) => e.type),
        events.map((e) => JSON.stringify(e.data)), events.map((e) => e.schemaVersion ?? 1), events.map((e) => JSON.stringify(e.metadata ?? {})),
        events.map((e) => e.createdBy), events.map((e) => e.contentHash),
      ], 'chronicle_fast_append');
    } catch (error) {
      const sql = sqlErrorOf(error);
      if (sql?.code === PARTIAL_FAST_APPEND) return null;
      if (sql?.code === UNIQUE_VIOLATION && String((error as { constraint?: string }).constraint) === 'events_pkey') return null;
      throw error;
    }
    const first = rows[0];
    if (!first?.all_updated) return null;
    const appended = new Map<string, AppendedEvent[]>();
    for (const r of rows) {
      const list = appended.get(r.stream_id) ?? [];
      list.push({ eventId: r.event_id, streamId: r.stream_id, streamVersion: toSafeNumber(r.stream_version), globalPosition: toSafeNumber(r.global_position) });
      appended.set(r.stream_id, list);
    }
    return requests.map((request) => {
      const own = [...request.streams].sort(byStreamId);
      return {
        ok: true,
        replayed: false,
        transactionId: first.transaction_id,
        recordedAt: first.recorded_at,
        events: own.flatMap((s) => appended.get(s.streamId) ?? []).sort((a, b) => a.globalPosition - b.globalPosition),
        streams: own.map((s) => ({ streamId: s.streamId, version: (s.expectedVersion as number) + s.events.length })),
      };
    });
  }

  async readStream(streamId: string, options: ReadStreamOptions): Promise<StreamSlice> {
    const forward = options.direction === 'forward';
    const from = options.fromVersion ?? (forward ? 1 : Number.MAX_SAFE_INTEGER);
    const rows = await this.db.query<EventRow & { current_version: string }>(
      `SELECT s.current_version::text AS current_version, e.*
         FROM (SELECT COALESCE((SELECT version FROM streams WHERE stream_id = $1), 0) AS current_version) s
         LEFT JOIN LATERAL (
           SELECT ${eventColumns('ev')} FROM events ev
            WHERE ev.stream_id = $1 AND ${forward ? 'ev.stream_version >= $2' : 'ev.stream_version <= $2'}
            ORDER BY ev.stream_version ${forward ? 'ASC' : 'DESC'} LIMIT $3) e ON true`,
      [streamId, from, options.count],
      `chronicle_read_stream_${options.direction}`,
    );
    return {
      streamId,
      version: toSafeNumber(rows[0]?.current_version ?? '0'),
      events: rows.filter((r) => r.event_id !== null).map(toEvent),
    };
  }

  async readAll(afterPosition: number, count: number): Promise<AllSlice | null> {
    const rows = await readAllRows<EventRow>(this.db, this.legacyThrough, afterPosition, count, eventColumns('e'), 'chronicle_read_all');
    if (rows === null) return null;
    const events = rows.map(toEvent);
    return { events, lastPosition: events.at(-1)?.globalPosition ?? afterPosition };
  }

  async readLatest(count: number): Promise<RecordedEvent[]> {
    // Positions are in commit order (migration 7), and whatever is visible is a gap-free prefix of them:
    // following on from the newest of these skips nothing. Legacy events (see readAllRows) come before all.
    const rows = await this.db.query<EventRow>(
      `SELECT ${eventColumns('e')} FROM events e WHERE e.global_position > $2
        ORDER BY e.global_position DESC LIMIT $1`,
      [count, this.legacyThrough], 'chronicle_read_latest',
    );
    if (rows.length < count && this.legacyThrough > 0) {
      rows.push(...await this.db.query<EventRow>(
        `SELECT ${eventColumns('e')} FROM events e WHERE e.global_position <= $2
          ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT $1`,
        [count - rows.length, this.legacyThrough], 'chronicle_read_latest_legacy',
      ));
    }
    return rows.map(toEvent);
  }

  async readEventAt(position: number): Promise<RecordedEvent | null> {
    const rows = await this.db.query<EventRow>(
      `SELECT ${eventColumns('e')} FROM events e WHERE e.global_position = $1`, [position], 'chronicle_read_event_at',
    );
    return rows[0] ? toEvent(rows[0]) : null;
  }

  async lastEventAt(streamId: string, at: string): Promise<RecordedEvent | null> {
    const rows = await this.db.query<EventRow>(
      `SELECT ${eventColumns('e')} FROM events e WHERE e.stream_id = $1 AND e.recorded_at <= $2::timestamptz
        ORDER BY e.recorded_at DESC, e.stream_version DESC LIMIT 1`,
      [streamId, at],
      'chronicle_last_event_at',
    );
    return rows[0] ? toEvent(rows[0]) : null;
  }

  async firstAndLastEvent(streamId: string): Promise<{ first: RecordedEvent; last: RecordedEvent } | null> {
    const rows = await this.db.query<EventRow>(
      `SELECT ${eventColumns('e')} FROM streams s JOIN events e ON e.stream_id = s.stream_id
        WHERE s.stream_id = $1 AND e.stream_version IN (1, s.version) ORDER BY e.stream_version`,
      [streamId],
      'chronicle_first_and_last',
    );
    if (rows.length === 0) return null;
    return { first: toEvent(rows[0]!), last: toEvent(rows.at(-1)!) };
  }

  async listStreams(options: { prefix: string; after?: string; limit: number }): Promise<(StreamInfo & { first: RecordedEvent; last: RecordedEvent })[]> {
    // Byte-order (COLLATE "C") ids: every id starting with the prefix lies in [prefix, prefix + U+FFFF).
    const rows = await this.db.query<EventRow & { s_id: string; s_type: string; s_version: string; s_created: string; s_updated: string; l: EventRow }>(
      `SELECT s.stream_id AS s_id, s.aggregate_type AS s_type, s.version::text AS s_version,
              to_char(s.created_at AT TIME ZONE 'UTC', ${UTC_MICROS}) AS s_created,
              to_char(s.updated_at AT TIME ZONE 'UTC', ${UTC_MICROS}) AS s_updated,
              ${eventColumns('f')},
              (SELECT to_jsonb(x) FROM (SELECT ${eventColumns('l')} FROM events l
                 WHERE l.stream_id = s.stream_id AND l.stream_version = s.version) x) AS l
         FROM streams s JOIN events f ON f.stream_id = s.stream_id AND f.stream_version = 1
        WHERE s.stream_id > $1 AND s.stream_id < $2
        ORDER BY s.stream_id LIMIT $3`,
      [options.after !== undefined && options.after > options.prefix ? options.after : options.prefix,
        `${options.prefix}\uffff`, options.limit],
      'chronicle_list_streams',
    );
    return rows.map((r) => ({
      streamId: r.s_id,
      aggregateType: r.s_type,
      version: toSafeNumber(r.s_version),
      createdAt: r.s_created,
      updatedAt: r.s_updated,
      first: toEvent(r),
      last: toEvent(r.l),
    }));
  }

  async findIdempotencyKey(key: string): Promise<StoredIdempotency | null> {
    const rows = await this.db.query<{ request_hash: string; result: { append: Record<string, unknown>; command: Record<string, unknown> } }>(
      'SELECT request_hash, result FROM idempotency_keys WHERE key = $1', [key], 'chronicle_find_idempotency_key',
    );
    const row = rows[0];
    if (!row) return null;
    return {
      key,
      requestHash: row.request_hash,
      result: { append: parseAppendResult(row.result.append) as StoredIdempotency['result']['append'], command: row.result.command },
    };
  }

  async loadSnapshot(streamId: string, schemaVersion: number): Promise<Snapshot | null> {
    const rows = await this.db.query<{ version: string; state: Record<string, unknown> }>(
      // Order by the column, not the text alias (which would put version 9 after version 10).
      `SELECT s.version::text AS version, s.state FROM snapshots s WHERE s.stream_id = $1 AND s.schema_version = $2
        ORDER BY s.version DESC LIMIT 1`,
      [streamId, schemaVersion],
      'chronicle_load_snapshot',
    );
    const row = rows[0];
    return row ? { streamId, version: toSafeNumber(row.version), schemaVersion, state: row.state } : null;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.db.query(
      `INSERT INTO snapshots (stream_id, version, schema_version, state) VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (stream_id, version) DO NOTHING`,
      [snapshot.streamId, snapshot.version, snapshot.schemaVersion, JSON.stringify(snapshot.state)],
      'chronicle_save_snapshot',
    );
  }

  async exclusive<T>(streamIds: readonly string[], fn: (store: EventStore) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      // Row locks in id order, the same order chronicle_append takes them in: no deadlock between the two.
      await tx.query('SELECT 1 FROM streams WHERE stream_id = ANY ($1::text[]) ORDER BY stream_id FOR UPDATE', [streamIds]);
      return fn(new SqlEventStore(inTransaction(tx, this.db.dialect), false, this.legacyThrough));
    });
  }

  /** The store's own connection(s), for tables that live beside the events (relay checkpoints). */
  get sql(): SqlClient {
    return this.db;
  }

  /**
   * The backend whose transaction holds the log head's row lock right now, if any (PostgreSQL; PGlite has one
   * connection, so nothing else can hold it). The row's xmax names the locking transaction while it runs.
   */
  async appendBlocker(): Promise<AppendBlocker | null> {
    if (this.db.dialect !== 'postgres') return null;
    const rows = await this.db.query<{ pid: number; application_name: string; state: string; age_ms: string }>(
      `SELECT a.pid, a.application_name, COALESCE(a.state, '') AS state,
              (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::bigint::text AS age_ms
         FROM event_log_head h JOIN pg_stat_activity a ON a.backend_xid = h.xmax
        WHERE h.xmax <> '0'::xid AND a.pid <> pg_backend_pid()`,
      [], 'chronicle_append_blocker',
    );
    const r = rows[0];
    return r ? { pid: Number(r.pid), applicationName: r.application_name, state: r.state, ageMs: Number(r.age_ms) } : null;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** The last position stored before migration 7 whose events keep their older order; 0 when there is none. */
export async function legacyThroughOf(db: SqlQueryable): Promise<number> {
  const rows = await db.query<{ legacy_through: string }>('SELECT legacy_through::text AS legacy_through FROM event_log_head');
  return toSafeNumber(rows[0]?.legacy_through ?? '0');
}

/**
 * One page of `$all` after `afterPosition`, with the given columns (of events aliased `e`); null when that
 * position names no event. Since migration 7 positions are handed out in commit order and committed
 * gap-free, so a page is "position > n": whatever a snapshot sees is a prefix of the log, and no event can
 * commit later below the reader's cursor. Events stored before migration 7 whose positions were not in
 * commit order (legacyThrough > 0) keep their order, (transaction_id, global_position), and all come first.
 */
export async function readAllRows<Row>(
  db: SqlQueryable, legacyThrough: number, afterPosition: number, count: number, columns: string, statementName: string,
): Promise<Row[] | null> {
  if (legacyThrough === 0 || afterPosition > legacyThrough) {
    // The head, read in the same snapshot, tells a position not yet written (null) from one at the end.
    const rows = await db.query<Row & { head: string; in_page: boolean | null }>(
      `SELECT h.position::text AS head, p.* FROM event_log_head h LEFT JOIN LATERAL (
         SELECT ${columns}, true AS in_page FROM events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT $2) p ON true`,
      [afterPosition, count], statementName,
    );
    if (afterPosition > toSafeNumber(rows[0]?.head ?? '0')) return null;
    return rows.filter((r) => r.in_page === true);
  }
  let afterTransaction = '0';
  if (afterPosition > 0) {
    const found = await db.query<{ tx: string }>('SELECT transaction_id::text AS tx FROM events WHERE global_position = $1', [afterPosition]);
    if (found.length === 0) return null;
    afterTransaction = found[0]!.tx;
  }
  const legacy = await db.query<Row>(
    `SELECT ${columns} FROM events e
      WHERE e.global_position <= $4 AND (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
      ORDER BY e.transaction_id, e.global_position LIMIT $3`,
    [afterTransaction, afterPosition, count, legacyThrough], `${statementName}_legacy`,
  );
  if (legacy.length === count) return legacy;
  const rest = await db.query<Row>(
    `SELECT ${columns} FROM events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT $2`,
    [legacyThrough, count - legacy.length], `${statementName}_after_legacy`,
  );
  return [...legacy, ...rest];
}

/** Byte order, as COLLATE "C" and the lock order in SQL. */
const byStreamId = (a: { streamId: string }, b: { streamId: string }) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0);

/** A client already inside a transaction: statements run on it; nesting and closing belong to the owner. */
function inTransaction(tx: SqlQueryable, dialect: SqlClient['dialect']): SqlClient {
  return {
    dialect,
    query: (text, params, name) => tx.query(text, params, name),
    exec: (sql) => tx.exec(sql),
    transaction: (fn) => fn(tx),
    session: (fn) => fn(tx),
    close: async () => {},
  };
}

function parseAppendResult(out: Record<string, unknown>): AppendResult {
  switch (out['status']) {
    case 'ok': {
      const events = (out['events'] as { eventId: string; streamId: string; streamVersion: number; globalPosition: string }[]).map((e) => ({
        eventId: e.eventId,
        streamId: e.streamId,
        streamVersion: toSafeNumber(e.streamVersion),
        globalPosition: toSafeNumber(e.globalPosition),
      }));
      return {
        ok: true,
        replayed: out['replayed'] === true,
        transactionId: String(out['transactionId']),
        recordedAt: String(out['recordedAt']),
        events,
        streams: (out['streams'] as { streamId: string; version: number }[]).map((s) => ({ streamId: s.streamId, version: toSafeNumber(s.version) })),
      };
    }
    case 'version_conflict':
      return {
        ok: false, reason: 'version_conflict', streamId: String(out['streamId']),
        expectedVersion: out['expected'] as AppendRequest['streams'][number]['expectedVersion'],
        actualVersion: toSafeNumber(out['actual'] as number),
      };
    case 'event_ids_conflict':
      return { ok: false, reason: 'event_ids_conflict', eventIds: out['eventIds'] as string[] };
    default:
      throw new Error(`unexpected chronicle_append result ${JSON.stringify(out)}`);
  }
}
