// Where `chronicle verify` reads the log from: the database itself (a live store or a restored dump: stored
// leaves are compared with the events found at their positions), or a running ledger's HTTP API
// (http-verify-source.ts). Either way the verdict rests only on the public key the auditor holds.
import type { SignedCheckpoint } from '../../domain/audit/checkpoint.js';
import { VERIFY_PAGE_ROWS as PAGE } from '../../domain/limits.js';
import type { LogItem, VerifiableEvent } from '../../domain/audit/verify.js';
import type { VerifySource } from '../../ports/verify-source.js';
import type { SqlClient } from '../event-store/sql/sql-client.js';
import { eventColumns, toSafeNumber, type EventRow } from '../event-store/sql/event-rows.js';
import { allReader, legacyThroughOf } from '../event-store/sql/read-all.js';

/** An event row (null event_id: a leaf whose event is gone) with its content hash and, for leaves, the leaf's columns. */
interface Row extends Omit<EventRow, 'event_id'> {
  event_id: string | null;
  content_hash: string | null;
  leaf_index: string;
  l_position: string;
  l_event_id: string;
  l_hash: string;
}

const EVENT = (e: string) => `${eventColumns(e)}, encode(${e}.content_hash, 'hex') AS content_hash`;

const readUnsealed = allReader<Row>(EVENT('e'), 'chronicle_verify_unsealed');

const toEvent = (r: Row): VerifiableEvent => ({
  eventId: r.event_id!, streamId: r.stream_id, streamVersion: toSafeNumber(r.stream_version), globalPosition: toSafeNumber(r.global_position),
  aggregateType: r.aggregate_type, type: r.event_type, data: r.event_data, schemaVersion: Number(r.event_schema_version),
  createdBy: r.created_by, metadata: r.metadata, recordedAt: r.recorded_at, prevHash: r.prev_hash, eventHash: r.event_hash, contentHash: r.content_hash,
});

export function sqlVerifySource(db: SqlClient): VerifySource {
  let lastLeafPosition: number | null = null;
  return {
    async checkpoints() {
      const rows = await db.query<{ tree_size: string; root_hash: string; issued_at: string; key_id: string; signature: string }>(
        `SELECT tree_size::text AS tree_size, encode(root_hash, 'hex') AS root_hash, issued_at, key_id, signature FROM merkle_checkpoints c ORDER BY c.tree_size`,
      );
      return rows.map((r): SignedCheckpoint => ({ treeSize: toSafeNumber(r.tree_size), rootHash: r.root_hash, issuedAt: r.issued_at, keyId: r.key_id, signature: r.signature }));
    },
    async *leaves(): AsyncGenerator<LogItem> {
      let next = 0;
      for (;;) {
        const rows = await db.query<Row>(
          `SELECT l.leaf_index::text AS leaf_index, l.global_position::text AS l_position, l.event_id::text AS l_event_id,
                  encode(l.leaf_hash, 'hex') AS l_hash, ${EVENT('e')}
             FROM merkle_leaves l LEFT JOIN events e ON e.global_position = l.global_position
            WHERE l.leaf_index >= $1 ORDER BY l.leaf_index LIMIT $2`, [next, PAGE],
        );
        for (const r of rows) {
          const index = toSafeNumber(r.leaf_index);
          // A stored leaf deleted from under the log: its place still counts.
          for (; next < index; next++) yield { leafIndex: next, event: null };
          const stored = { eventId: r.l_event_id, globalPosition: toSafeNumber(r.l_position), leafHash: r.l_hash };
          lastLeafPosition = stored.globalPosition;
          yield { leafIndex: index, event: r.event_id === null ? null : toEvent(r), stored };
          next = index + 1;
        }
        if (rows.length < PAGE) return;
      }
    },
    async *unsealed(): AsyncGenerator<VerifiableEvent> {
      // $all's order after the last leaf (read-all.ts), read straight from the events: event_log_head is not
      // trusted here, a tampered head must not hide an event from the verifier.
      const legacyThrough = await legacyThroughOf(db).catch(() => 0);
      let after = lastLeafPosition ?? 0;
      if (lastLeafPosition !== null && after <= legacyThrough) {
        const found = await db.query('SELECT 1 FROM events WHERE global_position = $1', [after]);
        if (found.length === 0) return; // the last leaf's event is gone: reported already
      }
      for (;;) {
        const rows: Row[] = after <= legacyThrough && legacyThrough > 0
          ? (await readUnsealed(db, legacyThrough, after, PAGE)) ?? []
          : await db.query<Row>(`SELECT ${EVENT('e')} FROM events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT $2`, [after, PAGE]);
        for (const r of rows) yield toEvent(r);
        if (rows.length < PAGE) return;
        after = toSafeNumber(rows.at(-1)!.global_position);
      }
    },
  };
}
