// The fast append (queries/fast-append.sql): appends of one or more requests whose streams are disjoint, in
// one statement. The caller (SqlEventStore, through GroupCommit) sends only appends whose streams are each
// expected at an exact version or as no_stream; anything the statement cannot answer exactly is null.
import type { AppendedEvent, AppendRequest, AppendSuccess, NewEvent, StreamAppend } from '../../../ports/event-store.js';
import { toSafeNumber } from './event-rows.js';
import { queryCommitting, sqlErrorOf, type SqlQueryable } from './sql-client.js';
import { namedQueries } from './sql-files.js';

const { fast_append: FAST_APPEND } = namedQueries(new URL('./queries/fast-append.sql', import.meta.url), ['fast_append']);

/** Raised by chronicle_all_or_none (migration 2) when only some streams were at their expected version. */
const PARTIAL_FAST_APPEND = 'CL411';
const UNIQUE_VIOLATION = '23505';

/** An event's content hash (hex), given its stream and author. */
type ContentHashOf = (event: NewEvent, streamId: string, aggregateType: string, createdBy: string) => string;

/** Two appends of the same new event id at once: the loser's insert hit the events primary key. */
export function isDuplicateEventId(error: unknown): boolean {
  return sqlErrorOf(error)?.code === UNIQUE_VIOLATION && String((error as { constraint?: string }).constraint) === 'events_pkey';
}

/** Whether the fast append can take this stream: expected at an exact version, or as a new stream. */
export const fastAppendable = (stream: StreamAppend): boolean =>
  stream.expectedVersion === 'no_stream' || (typeof stream.expectedVersion === 'number' && stream.expectedVersion > 0);

/** The stream's version before the append: 0 for a new one (fastAppendable streams only). */
const versionBefore = (stream: StreamAppend): number => (stream.expectedVersion === 'no_stream' ? 0 : stream.expectedVersion as number);

/** Byte order, as COLLATE "C" and the lock order in SQL. */
const byStreamId = (a: { streamId: string }, b: { streamId: string }) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0);

/**
 * FAST_APPEND for `requests`: a result for each, or null when it did not apply (nothing was written: a
 * stream not at its expected version, an event id already stored) and each must be answered on its own.
 */
export async function fastAppend(db: SqlQueryable, requests: readonly AppendRequest[], contentHashOf: ContentHashOf): Promise<AppendSuccess[] | null> {
  const byStream = new Map(requests.flatMap((r) => r.streams.map((s) => [s.streamId, { stream: s, createdBy: r.createdBy, key: r.idempotency?.key ?? null }] as const)));
  const keyed = requests.flatMap((r) => (r.idempotency === undefined ? [] : [r.idempotency]));
  const streams = [...byStream.values()].sort((a, b) => byStreamId(a.stream, b.stream));
  const events = streams.flatMap(({ stream, createdBy }) => stream.events.map((e, i) => ({
    ...e, streamId: stream.streamId, ord: i + 1, createdBy, contentHash: contentHashOf(e, stream.streamId, stream.aggregateType, createdBy),
  })));
  let rows: { all_updated: boolean; transaction_id: string; recorded_at: string; event_id: string; stream_id: string; stream_version: string; global_position: string }[];
  try {
    rows = await queryCommitting(db, FAST_APPEND, [
      streams.map((s) => s.stream.streamId), streams.map((s) => versionBefore(s.stream)), streams.map((s) => s.stream.events.length),
      streams.map((s) => s.stream.aggregateType),
      events.map((e) => e.eventId), events.map((e) => e.streamId), events.map((e) => e.ord), events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data)), events.map((e) => e.schemaVersion ?? 1), events.map((e) => JSON.stringify(e.metadata ?? {})),
      events.map((e) => e.createdBy), events.map((e) => e.contentHash),
      streams.map((s) => s.key), keyed.map((k) => k.key), keyed.map((k) => k.requestHash), keyed.map((k) => JSON.stringify(k.result)),
    ], 'chronicle_fast_append');
  } catch (error) {
    if (sqlErrorOf(error)?.code === PARTIAL_FAST_APPEND) return null;
    if (isDuplicateEventId(error)) return null;
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
      streams: own.map((s) => ({ streamId: s.streamId, version: versionBefore(s) + s.events.length })),
    };
  });
}
