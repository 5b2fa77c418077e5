// The event store port: what the application needs from any store, and nothing about how it is kept.
// Versions and positions are JS numbers: both are BIGINT in SQL but stay far below 2^53 in practice, and the
// adapters check that (a position past 2^53 throws rather than rounds).

export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  clientAddress?: string;
  [key: string]: unknown;
}

export interface NewEvent {
  eventId: string;
  type: string;
  data: Record<string, unknown>;
  schemaVersion?: number;
  metadata?: EventMetadata;
}

export interface StreamAppend {
  streamId: string;
  aggregateType: string;
  expectedVersion: ExpectedVersion;
  events: NewEvent[];
}

export interface AppendRequest {
  /** One or more streams, appended atomically: all of them or none. */
  streams: StreamAppend[];
  createdBy: string;
  /** Recorded in the same transaction as the events; `result` is stored beside the append's own result. */
  idempotency?: { key: string; requestHash: string; result: Record<string, unknown> };
}

export interface AppendedEvent {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
}

export interface AppendSuccess {
  ok: true;
  /** True when every event id was already stored: the original result, nothing appended. */
  replayed: boolean;
  transactionId: string;
  recordedAt: string;
  events: AppendedEvent[];
  streams: { streamId: string; version: number }[];
}

export type AppendFailure =
  | { ok: false; reason: 'version_conflict'; streamId: string; expectedVersion: ExpectedVersion; actualVersion: number | null }
  | { ok: false; reason: 'idempotency_key_exists'; key: string }
  | { ok: false; reason: 'event_ids_conflict'; eventIds: string[] };

export type AppendResult = AppendSuccess | AppendFailure;

export interface RecordedEvent {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
  transactionId: string;
  aggregateType: string;
  type: string;
  data: Record<string, unknown>;
  schemaVersion: number;
  /** ISO-8601 UTC with microseconds, e.g. 2026-11-25T13:14:05.773412Z. */
  recordedAt: string;
  createdBy: string;
  metadata: EventMetadata;
  /**
   * The stream's hash chain (docs/audit.md): the previous event's eventHash (64 zeros for a stream's first),
   * and SHA-256(prevHash || contentHash), lower-case hex. Null for events stored before chaining existed;
   * absent where a store does not chain.
   */
  prevHash?: string | null;
  eventHash?: string | null;
}

export interface ReadStreamOptions {
  /** Inclusive. Forward: default 1. Backward: default the stream's last version. */
  fromVersion?: number;
  count: number;
  direction: 'forward' | 'backward';
}

export interface StreamSlice {
  streamId: string;
  /** The stream's current version; 0 when it does not exist. */
  version: number;
  events: RecordedEvent[];
}

export interface AllSlice {
  events: RecordedEvent[];
  /** The position to pass as `afterPosition` for the next page (the last event returned, or the one given). */
  lastPosition: number;
}

export interface StoredIdempotency {
  key: string;
  requestHash: string;
  result: { append: AppendSuccess; command: Record<string, unknown> };
}

export interface Snapshot {
  streamId: string;
  version: number;
  schemaVersion: number;
  state: Record<string, unknown>;
}

export interface StreamInfo {
  streamId: string;
  aggregateType: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** A transaction holding the log head (every append waits for it): who, and for how long. */
export interface AppendBlocker {
  pid: number;
  applicationName: string;
  /** pg_stat_activity.state: 'active', 'idle in transaction', … */
  state: string;
  /** Age of its transaction. */
  ageMs: number;
}

export interface EventStore {
  append(request: AppendRequest): Promise<AppendResult>;
  readStream(streamId: string, options: ReadStreamOptions): Promise<StreamSlice>;
  /**
   * Events in commit order after the event at `afterPosition` (0: from the start). Only events every one of
   * whose predecessors in that order has committed are returned, so a follower never skips a late commit
   * (the SQL store: positions are handed out in commit order, gap-free). Returns null when `afterPosition`
   * names no event.
   */
  readAll(afterPosition: number, count: number): Promise<AllSlice | null>;
  /**
   * The last `count` events of `$all` in commit order, newest first, of the same prefix readAll reads: a
   * follower that starts after the first of them (readAll(events[0].globalPosition, …)) misses nothing.
   */
  readLatest(count: number): Promise<RecordedEvent[]>;
  /** The event at a global position; null if there is none (never was, or not committed yet). */
  readEventAt(position: number): Promise<RecordedEvent | null>;
  /** The last event of a stream recorded at or before an instant (time travel); null if none. */
  lastEventAt(streamId: string, at: string): Promise<RecordedEvent | null>;
  /** First and last event of a stream; null if the stream does not exist. */
  firstAndLastEvent(streamId: string): Promise<{ first: RecordedEvent; last: RecordedEvent } | null>;
  /** Streams whose id starts with `prefix`, in id (byte) order after `after`, each with its first and last event. */
  listStreams(options: { prefix: string; after?: string; limit: number }): Promise<(StreamInfo & { first: RecordedEvent; last: RecordedEvent })[]>;
  /** The stored outcome of `key`, else of `fallbackKey` (one lookup for both); its `key` says which. */
  findIdempotencyKey(key: string, fallbackKey?: string): Promise<StoredIdempotency | null>;
  loadSnapshot(streamId: string, schemaVersion: number): Promise<Snapshot | null>;
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /**
   * Runs fn in one transaction that holds the given (existing) streams locked: no other append to them can
   * commit until fn returns. The pessimistic path for a command that lost an optimistic race: it cannot lose
   * twice, so a client never sees a conflict it would have to retry.
   */
  exclusive<T>(streamIds: readonly string[], fn: (store: EventStore) => Promise<T>): Promise<T>;
  /** Throws when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
