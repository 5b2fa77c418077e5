// The event store over SQL, shared by the PostgreSQL and PGlite adapters: same statements, same results.
// Appends are one call of the chronicle_append() PL/pgSQL function (one round trip, one transaction), or,
// for the common case, the fast append (fast-append.ts) behind group commit. Statements: queries/*.sql;
// rows: event-rows.ts; pages of $all: read-all.ts.
import type {
  AllSlice, AppendBlocker, AppendRequest, AppendSuccess, NewEvent, AppendResult, EventStore, ReadStreamOptions, RecordedEvent, Snapshot,
  StoredIdempotency, StreamInfo, StreamSlice,
} from '../../../ports/event-store.js';
import { createHash } from 'node:crypto';
import { contentHash } from '../../../domain/audit/canonical.js';
import { parseAppendResult } from './append-result.js';
import { eventColumns, toEvent, toSafeNumber, type EventRow } from './event-rows.js';
import { fastAppend, fastAppendable, isDuplicateEventId } from './fast-append.js';
import { GROUP_COMMIT_DEFAULTS, GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { migrate } from './migrate.js';
import { legacyThroughOf, markedAllReader } from './read-all.js';
import { queryCommitting, sqlErrorOf, type SqlClient, type SqlQueryable } from './sql-client.js';
import { QuorumGate, type QuorumGateOptions } from './quorum-gate.js';
import { CommitOutcomeUnknownError, QuorumNotReachedError } from '../../../ports/unavailable.js';
import { namedQueries } from './sql-files.js';
import { IDEMPOTENCY_LOOKUP_BATCH_MAX, NEW_STREAM_RACE_RETRIES_MAX, QUORUM_REPLAY_WAIT_MS } from '../../../domain/limits.js';
import { TurnBatch } from '../../../lib/turn-batch.js';

interface IdempotencyRow { key: string; request_hash: string; result: { append: Record<string, unknown>; command: Record<string, unknown> } }

const Q = namedQueries(new URL('./queries/event-store.sql', import.meta.url), [
  'append', 'read_stream_forward', 'read_stream_backward', 'read_latest', 'read_latest_legacy', 'read_event_at', 'last_event_at',
  'first_and_last', 'list_streams', 'find_idempotency_keys', 'load_snapshot', 'save_snapshot', 'lock_streams', 'append_blocker',
], { event_columns: eventColumns });

const readAllRows = markedAllReader<EventRow>(eventColumns('e'), 'chronicle_read_all', false);
const readAllRowsGated = markedAllReader<EventRow>(eventColumns('e'), 'chronicle_read_all', true);

// SQLSTATEs chronicle_append raises for a race it finds once it has written (migrations 1, 4, 7).
const RACED_ON_NEW_STREAM = 'CL409';
const RACED_ON_IDEMPOTENCY_KEY = 'CL410';

/** node:crypto's SHA-256 in the shape the audit core takes (src/domain does no I/O and imports no node:*). */
export const sha256 = (bytes: Uint8Array): Uint8Array => createHash('sha256').update(bytes).digest();

export class SqlEventStore implements EventStore {
  private readonly groupCommit: GroupCommit | undefined;
  /** Idempotency-key lookups of one event-loop turn, in one query. */
  private readonly keyLookups = new TurnBatch<string, Map<string, IdempotencyRow>>((keys) => this.findIdempotencyRows(keys), IDEMPOTENCY_LOOKUP_BATCH_MAX);
  /** Each new event's content hash, computed once even when the fast path falls back to chronicle_append. */
  private readonly contentHashes = new WeakMap<NewEvent, string>();

  private constructor(
    private readonly db: SqlClient,
    groupCommit: GroupCommitOptions | false,
    /** event_log_head.legacy_through: fixed by migration 7, so read once. */
    private readonly legacyThrough: number,
    /** PostgreSQL: what followers read waits for the synchronous standbys (quorum-gate.ts). */
    private readonly gate: QuorumGate | undefined,
    /**
     * Inside exclusive()'s transaction: no fast append there, whose refusal (a stream created or a key
     * stored concurrently) raises an error that would abort the transaction before chronicle_append answers.
     */
    private readonly inTransaction = false,
  ) {
    this.groupCommit = groupCommit === false ? undefined : new GroupCommit((batch) => this.fastAppend(batch), groupCommit);
  }

  /** Runs the migrations, then serves. */
  static async open(db: SqlClient, options: { groupCommit?: GroupCommitOptions | false; quorum?: QuorumGateOptions } = {}): Promise<SqlEventStore> {
    await migrate(db);
    // PGlite has no replication: nothing to wait for.
    const gate = db.dialect === 'postgres' ? new QuorumGate(db, options.quorum) : undefined;
    return new SqlEventStore(db, options.groupCommit ?? GROUP_COMMIT_DEFAULTS, await legacyThroughOf(db), gate);
  }

  async append(request: AppendRequest, attempt = 1): Promise<AppendResult> {
    // First, so that an event with no canonical form fails its own request, never a group-commit batch.
    for (const s of request.streams) for (const e of s.events) this.contentHashOf(e, s.streamId, s.aggregateType, request.createdBy);
    if (!this.inTransaction && request.streams.every(fastAppendable)) {
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
      const rows = await queryCommitting<{ r: Record<string, unknown> }>(this.db, Q.append, [JSON.stringify(payload)], 'chronicle_append');
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
      if (isDuplicateEventId(error) && attempt < NEW_STREAM_RACE_RETRIES_MAX) return this.append(request, attempt + 1);
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

  /** The fast append of `requests` (fast-append.ts): a result for each, or null when each must go on its own. */
  private fastAppend(requests: readonly AppendRequest[]): Promise<AppendSuccess[] | null> {
    return fastAppend(this.db, requests, (e, streamId, aggregateType, createdBy) => this.contentHashOf(e, streamId, aggregateType, createdBy));
  }

  async readStream(streamId: string, options: ReadStreamOptions): Promise<StreamSlice> {
    const forward = options.direction === 'forward';
    const from = options.fromVersion ?? (forward ? 1 : Number.MAX_SAFE_INTEGER);
    const rows = await this.db.query<EventRow & { current_version: string }>(
      forward ? Q.read_stream_forward : Q.read_stream_backward,
      [streamId, from, options.count],
      `chronicle_read_stream_${options.direction}`,
    );
    return {
      streamId,
      version: toSafeNumber(rows[0]?.current_version ?? '0'),
      events: rows.filter((r) => r.event_id !== null).map(toEvent),
    };
  }

  /**
   * On PostgreSQL with synchronous replication, only events durable on the synchronous standbys (the quorum
   * gate): a page they have not confirmed within the gate's bound comes back empty, and the follower reads it
   * again at its next poll. Every follower of `$all` reads here: relay, sealer, live feed, rebuild, `/streams/$all`.
   */
  async readAll(afterPosition: number, count: number): Promise<AllSlice | null> {
    const page = await (this.gate ? readAllRowsGated : readAllRows)(this.db, this.legacyThrough, afterPosition, count);
    if (page === null) return null;
    if (this.gate && page.rows.length > 0 && !await this.gate.durable(page.mark ?? await this.gate.markAfterRead())) {
      return { events: [], lastPosition: afterPosition };
    }
    const events = page.rows.map(toEvent);
    return { events, lastPosition: events.at(-1)?.globalPosition ?? afterPosition };
  }

  /** Gated as readAll; the newest events cannot be left out, so a page the quorum does not confirm in time is an outage. */
  async readLatest(count: number): Promise<RecordedEvent[]> {
    // Legacy events (read-all.sql) come before all others.
    const rows = await this.db.query<EventRow>(Q.read_latest, [count, this.legacyThrough], 'chronicle_read_latest');
    if (rows.length < count && this.legacyThrough > 0) {
      rows.push(...await this.db.query<EventRow>(Q.read_latest_legacy, [count - rows.length, this.legacyThrough], 'chronicle_read_latest_legacy'));
    }
    if (this.gate && rows.length > 0 && !await this.gate.durable(await this.gate.markAfterRead())) {
      throw new QuorumNotReachedError('the newest events are not yet confirmed by the synchronous standbys');
    }
    return rows.map(toEvent);
  }

  async readEventAt(position: number): Promise<RecordedEvent | null> {
    const rows = await this.db.query<EventRow>(Q.read_event_at, [position], 'chronicle_read_event_at');
    return rows[0] ? toEvent(rows[0]) : null;
  }

  async lastEventAt(streamId: string, at: string): Promise<RecordedEvent | null> {
    const rows = await this.db.query<EventRow>(Q.last_event_at, [streamId, at], 'chronicle_last_event_at');
    return rows[0] ? toEvent(rows[0]) : null;
  }

  async firstAndLastEvent(streamId: string): Promise<{ first: RecordedEvent; last: RecordedEvent } | null> {
    const rows = await this.db.query<EventRow>(Q.first_and_last, [streamId], 'chronicle_first_and_last');
    if (rows.length === 0) return null;
    return { first: toEvent(rows[0]!), last: toEvent(rows.at(-1)!) };
  }

  async listStreams(options: { prefix: string; after?: string; limit: number }): Promise<(StreamInfo & { first: RecordedEvent; last: RecordedEvent })[]> {
    // Byte-order (COLLATE "C") ids: every id starting with the prefix lies in [prefix, prefix + U+FFFF).
    const rows = await this.db.query<EventRow & { s_id: string; s_type: string; s_version: string; s_created: string; s_updated: string; l: EventRow }>(
      Q.list_streams,
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

  async findIdempotencyKey(key: string, fallbackKey?: string): Promise<StoredIdempotency | null> {
    const keys = fallbackKey === undefined ? [key] : [key, fallbackKey];
    const found = this.inTransaction ? await this.findIdempotencyRows(keys) : await this.keyLookups.lookup(keys);
    const row = found.get(key) ?? (fallbackKey === undefined ? undefined : found.get(fallbackKey));
    if (!row) return null;
    // A replay says "done": only once the quorum has the first attempt's commit (it may have been cut off
    // from its standby: committed on this server only, and erased by a failover). Until then still unknown.
    if (this.gate && !await this.gate.durable(await this.gate.markAfterRead(), QUORUM_REPLAY_WAIT_MS)) {
      throw new CommitOutcomeUnknownError('the stored outcome of this Idempotency-Key is not yet durable on the synchronous standbys');
    }
    return {
      key: row.key,
      requestHash: row.request_hash,
      result: { append: parseAppendResult(row.result.append) as StoredIdempotency['result']['append'], command: row.result.command },
    };
  }

  private async findIdempotencyRows(keys: readonly string[]): Promise<Map<string, IdempotencyRow>> {
    const rows = await this.db.query<IdempotencyRow>(Q.find_idempotency_keys, [keys], 'chronicle_find_idempotency_keys');
    return new Map(rows.map((r) => [r.key, r]));
  }

  async loadSnapshot(streamId: string, schemaVersion: number): Promise<Snapshot | null> {
    const rows = await this.db.query<{ version: string; state: Record<string, unknown> }>(
      Q.load_snapshot, [streamId, schemaVersion], 'chronicle_load_snapshot',
    );
    const row = rows[0];
    return row ? { streamId, version: toSafeNumber(row.version), schemaVersion, state: row.state } : null;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.db.query(
      Q.save_snapshot,
      [snapshot.streamId, snapshot.version, snapshot.schemaVersion, JSON.stringify(snapshot.state)],
      'chronicle_save_snapshot',
    );
  }

  async exclusive<T>(streamIds: readonly string[], fn: (store: EventStore) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.query(Q.lock_streams, [streamIds]);
      return fn(new SqlEventStore(inTransaction(tx, this.db.dialect), false, this.legacyThrough, this.gate && new QuorumGate(tx), true));
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
      Q.append_blocker, [], 'chronicle_append_blocker',
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
