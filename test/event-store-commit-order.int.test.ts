// How this proves the $all reader never skips a late commit. PostgreSQL hands out sequence values when a row
// is inserted, not when its transaction commits, so global positions become visible out of order. Here one
// transaction is held open on its own connection (raw pg client) while later appends commit around it:
//  1. a low position stays invisible, and so does everything committed after it, until it commits;
//  2. when positions commit in the opposite order to their transactions, the reader's (transaction id,
//     position) cursor still delivers both, the higher position first, and a cursor taken between them
//     does not lose the lower one. A reader that trusted "position > last seen" would skip it.
import { sha256 } from '../src/adapters/event-store/sql/sql-event-store.js';
import { contentHash } from '../src/domain/audit/canonical.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqlEventStore } from '../src/adapters/event-store/sql/sql-event-store.js';
import { openEventStore } from '../src/adapters/event-store/open-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

// chronicle_append's own payload, as SqlEventStore sends it: each event carries its content hash (the chain's input).
const appendPayload = (streamId: string) => {
  const event = { eventId: randomUUID(), type: 'Happened', data: {} };
  const hash = contentHash(sha256, { ...event, streamId, aggregateType: 'Thing', schemaVersion: 1, metadata: {}, createdBy: 'commit-order-test' });
  return JSON.stringify({
    streams: [{ streamId, aggregateType: 'Thing', expected: 'any', events: [{ ...event, contentHash: hash }] }],
    createdBy: 'commit-order-test',
    idempotency: null,
  });
};

describe.skipIf(!(await postgresAvailable()))('$all follows commit order on PostgreSQL', () => {
  let db: TestDatabase;
  let store: SqlEventStore;
  let open: pg.Client;

  beforeEach(async () => {
    db = await createTestDatabase();
    store = await openEventStore({ kind: 'postgres', url: db.url, poolMax: 4 });
    open = new pg.Client({ connectionString: db.url });
    await open.connect();
  });
  afterEach(async () => {
    await open.end();
    await store.close();
    await db.drop();
  });

  const appendInOpenTransaction = async (streamId: string): Promise<number> => {
    const { rows } = await open.query('SELECT chronicle_append($1::jsonb) AS r', [appendPayload(streamId)]);
    return Number(rows[0].r.events[0].globalPosition);
  };
  const appendCommitted = async (streamId: string): Promise<number> => {
    const result = await store.append({
      streams: [{ streamId, aggregateType: 'Thing', expectedVersion: 'any', events: [{ eventId: randomUUID(), type: 'Happened', data: {} }] }],
      createdBy: 'commit-order-test',
    });
    if (!result.ok) throw new Error('append failed');
    return result.events[0]!.globalPosition;
  };

  it('hides a later commit while an earlier position is still uncommitted, then delivers both in order', async () => {
    await open.query('BEGIN');
    const early = await appendInOpenTransaction('slow-1');
    const late = await appendCommitted('fast-1');
    expect(late).toBeGreaterThan(early);

    // A naive follower reading by position alone would already see `late`, and then never look back at `early`.
    const naive = await open.query('SELECT global_position FROM events WHERE global_position > 0');
    expect(naive.rows.map((r) => Number(r.global_position))).toContain(early); // (its own transaction sees it)
    expect((await store.readAll(0, 10))!.events).toEqual([]);

    await open.query('COMMIT');
    const all = (await store.readAll(0, 10))!;
    expect(all.events.map((e) => e.globalPosition)).toEqual([early, late]);
  });

  it('readLatest (the timeline\'s first page) stops at the same horizon, so following on from its newest skips nothing', async () => {
    const before = await appendCommitted('before-1');
    await open.query('BEGIN');
    const early = await appendInOpenTransaction('slow-1');
    const late = await appendCommitted('fast-1');
    // Only what is final in commit order: neither the open transaction's event nor the later commit.
    expect((await store.readLatest(10)).map((e) => e.globalPosition)).toEqual([before]);
    await open.query('COMMIT');
    const latest = await store.readLatest(10);
    expect(latest.map((e) => e.globalPosition)).toEqual([late, early, before]); // newest first in commit order
    // A follower that started after `before` (the newest the first call saw) gets both, in commit order.
    expect((await store.readAll(before, 10))!.events.map((e) => e.globalPosition)).toEqual([early, late]);
    expect((await store.readLatest(2)).map((e) => e.globalPosition)).toEqual([late, early]);
  });

  it('delivers a lower position that commits in a later transaction, without skipping it from a cursor', async () => {
    await open.query('BEGIN');
    await open.query('SELECT pg_current_xact_id()'); // this transaction takes its id now ...
    const lower = await appendCommitted('fast-1'); // ... a later transaction takes a position and commits
    const higher = await appendInOpenTransaction('slow-1'); // ... and the older transaction takes a higher one
    expect(higher).toBeGreaterThan(lower);
    expect((await store.readAll(0, 10))!.events).toEqual([]); // the open, older transaction holds both back

    await open.query('COMMIT');
    const all = (await store.readAll(0, 10))!;
    expect(all.events.map((e) => e.globalPosition)).toEqual([higher, lower]);
    // A follower that stopped right after `higher` resumes with `lower`: nothing skipped, nothing repeated.
    expect((await store.readAll(higher, 10))!.events.map((e) => e.globalPosition)).toEqual([lower]);
    expect((await store.readAll(lower, 10))!.events).toEqual([]);
  });
});
