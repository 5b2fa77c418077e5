// Rows of `events` as the SQL store reads them, and their mapping to RecordedEvent. Every bigint, xid8 and
// time comes back as text, so both drivers (pg, PGlite) parse it identically.
import type { RecordedEvent } from '../../../ports/event-store.js';
import { utcMicros } from './utc-micros.js';

/** The select list of an event row, for events aliased `e`. */
export const eventColumns = (e: string): string => `${e}.event_id::text AS event_id, ${e}.stream_id, ${e}.stream_version::text AS stream_version,
  ${e}.global_position::text AS global_position, ${e}.transaction_id::text AS transaction_id, ${e}.aggregate_type,
  ${e}.event_type, ${e}.event_data, ${e}.event_schema_version, ${e}.created_by, ${e}.metadata,
  ${utcMicros(`${e}.recorded_at`)} AS recorded_at,
  encode(${e}.prev_hash, 'hex') AS prev_hash, encode(${e}.event_hash, 'hex') AS event_hash`;

export interface EventRow {
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

export const toEvent = (row: EventRow): RecordedEvent => ({
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
