// How this proves `$all` is in commit order whatever the number of writers (event store migration 7). Each
// case drives raw sessions (pg clients, one connection each) through an exact interleaving:
//  1. the interleaving that broke the old (transaction_id, global_position) order with two writer
//     processes: A takes its transaction id first, locks stream X1 and waits for X2; B locks X2, appends its
//     next version and commits; A then appends X2's following version. Old order: A's X2 event (lower xid)
//     before B's. Now: B's first, every stream's versions increasing along $all, positions 1..n dense.
//  2. an append held open keeps its positions; appends that come later wait for it (they take the next
//     positions only once it is visible), so a reader sees a gap-free prefix at every moment and
//     "position > n" never skips a late commit.
//  3. a long transaction that appends nothing (an open report, a stuck session) no longer holds `$all`
//     followers back: they see every commit at once (it stalled every follower for as long as it was open).
//  4. a store written before migration 7 whose positions were not in commit order keeps its order: those
//     events come first, in their old order, and everything appended after the upgrade follows by position.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqlCountEventsAfter } from '../src/adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { sqlVerifySource } from '../src/adapters/audit/verify-sources.js';
import { openEventStore } from '../src/adapters/event-store/open-store.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { migrate } from '../src/adapters/event-store/sql/migrate.js';
import { SqlEventStore, sha256 } from '../src/adapters/event-store/sql/sql-event-store.js';
import { contentHash } from '../src/domain/audit/canonical.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

// chronicle_append's own payload, as SqlEventStore sends it: each event carries its content hash (the chain's input).
const appendPayload = (streams: { streamId: string; expected: number | 'any' }[]) => JSON.stringify({
  streams: streams.map(({ streamId, expected }) => {
    const event = { eventId: randomUUID(), type: 'Happened', data: {} };
    const hash = contentHash(sha256, { ...event, streamId, aggregateType: 'Thing', schemaVersion: 1, metadata: {}, createdBy: 'commit-order-test' });
    return { streamId, aggregateType: 'Thing', expected, events: [{ ...event, contentHash: hash }] };
  }),
  createdBy: 'commit-order-test',
  idempotency: null,
});

/** Until a backend of this database (`session`'s, if given) waits for a lock: the interleaving is exact, not timed. */
async function waitsForLock(observer: pg.Client, session?: pg.Client): Promise<void> {
  const pid = session === undefined ? null : (session as unknown as { processID: number }).processID;
  for (let i = 0; i < 500; i++) {
    const { rows } = await observer.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND ($1::int IS NULL OR pid = $1)`, [pid]);
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no session (${pid ?? 'any'}) waited for a lock`);
}

/** Every stream's versions must appear in increasing order along $all, each once, from 1. */
function expectStreamsInOrder(events: RecordedEvent[]): void {
  const next = new Map<string, number>();
  for (const e of events) {
    expect({ stream: e.streamId, version: e.streamVersion }).toEqual({ stream: e.streamId, version: (next.get(e.streamId) ?? 0) + 1 });
    next.set(e.streamId, e.streamVersion);
  }
}

const positions = (events: RecordedEvent[]) => events.map((e) => e.globalPosition);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.skipIf(!(await postgresAvailable()))('$all follows commit order on PostgreSQL, whatever the number of writers', () => {
  let db: TestDatabase;
  let store: SqlEventStore;
  let a: pg.Client;
  let b: pg.Client;
  let observer: pg.Client;

  beforeEach(async () => {
    db = await createTestDatabase();
    store = await openEventStore({ kind: 'postgres', url: db.url, poolMax: 4 });
    [a, b, observer] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
    await Promise.all([a.connect(), b.connect(), observer.connect()]);
  });
  afterEach(async () => {
    await Promise.all([a, b, observer].map((c) => c.end().catch(() => {})));
    await store.close();
    await db.drop();
  });

  const append = (session: pg.Client, streams: { streamId: string; expected: number | 'any' }[]) =>
    session.query('SELECT chronicle_append($1::jsonb) AS r', [appendPayload(streams)]).then(({ rows }) => rows[0].r);

  it('lists a stream in version order when a lower transaction id commits its version later (the two-writer interleaving)', async () => {
    for (const streamId of ['X1', 'X2']) await append(observer, [{ streamId, expected: 'any' }]); // X1 v1, X2 v1

    await a.query('BEGIN');
    const xidA = BigInt((await a.query('SELECT pg_current_xact_id()::text AS x')).rows[0].x);
    await b.query('BEGIN');
    const xidB = BigInt((await b.query('SELECT pg_current_xact_id()::text AS x')).rows[0].x);
    expect(xidA).toBeLessThan(xidB);
    await b.query(`SELECT 1 FROM streams WHERE stream_id = 'X2' FOR UPDATE`); // B holds X2 ...
    const aAppend = append(a, [{ streamId: 'X1', expected: 'any' }, { streamId: 'X2', expected: 'any' }]); // ... A locks X1, waits for X2
    await waitsForLock(observer, a);
    expect((await append(b, [{ streamId: 'X2', expected: 1 }])).status).toBe('ok'); // B appends X2 v2
    await b.query('COMMIT');
    expect((await aAppend).status).toBe('ok'); // A appends X1 v2 and X2 v3 with the LOWER transaction id
    await a.query('COMMIT');

    const all = (await store.readAll(0, 100))!.events;
    expect(all.map((e) => `${e.streamId}@${e.streamVersion}`)).toEqual(['X1@1', 'X2@1', 'X2@2', 'X1@2', 'X2@3']);
    expectStreamsInOrder(all);
    expect(positions(all)).toEqual(range(1, 5)); // dense, increasing along $all
    // By transaction id, the old order, A's X2 v3 would come before B's X2 v2.
    const byXid = [...all].sort((x, y) => (BigInt(x.transactionId) < BigInt(y.transactionId) ? -1 : BigInt(x.transactionId) > BigInt(y.transactionId) ? 1 : x.globalPosition - y.globalPosition));
    expect(byXid.filter((e) => e.streamId === 'X2').map((e) => e.streamVersion)).toEqual([1, 3, 2]);
    // Followers page through it from any cursor, and the latest page is its mirror.
    expect(positions((await store.readAll(2, 2))!.events)).toEqual([3, 4]);
    expect(positions(await store.readLatest(3))).toEqual([5, 4, 3]);
    expect(await sqlCountEventsAfter(store.sql)(2, 100)).toBe(3);
    expect(await store.readAll(6, 10)).toBeNull(); // a position not written yet names no event
  });

  it('makes later appends wait for an open one, so a reader sees a gap-free prefix at every moment', async () => {
    await store.append({ streams: [{ streamId: 'before', aggregateType: 'Thing', expectedVersion: 'any', events: [{ eventId: randomUUID(), type: 'Happened', data: {} }] }], createdBy: 't' });
    await a.query('BEGIN');
    const held = await append(a, [{ streamId: 'slow', expected: 'any' }]);
    expect(Number(held.events[0].globalPosition)).toBe(2);
    // A later append (another stream, the store's own pool) cannot take position 3 before 2 is visible.
    let laterDone = false;
    const later = store.append({
      streams: [{ streamId: 'fast', aggregateType: 'Thing', expectedVersion: 'any', events: [{ eventId: randomUUID(), type: 'Happened', data: {} }] }],
      createdBy: 't',
    }).then((r) => { laterDone = true; return r; });
    await waitsForLock(observer); // the store's own connection, queued behind the open append
    expect(laterDone).toBe(false);
    expect(positions((await store.readAll(0, 10))!.events)).toEqual([1]); // the prefix: nothing past the open append
    await a.query('COMMIT');
    const result = await later;
    expect(result.ok && result.events[0]!.globalPosition).toBe(3);
    expect(positions((await store.readAll(1, 10))!.events)).toEqual([2, 3]);
  });

  it('does not hold followers back behind a long transaction that appends nothing', async () => {
    await a.query('BEGIN');
    await a.query('SELECT pg_current_xact_id()'); // an open transaction with an id, holding the old xmin horizon
    await a.query('SELECT count(*) FROM events');
    for (const streamId of ['s1', 's2', 's3']) {
      await store.append({ streams: [{ streamId, aggregateType: 'Thing', expectedVersion: 'any', events: [{ eventId: randomUUID(), type: 'Happened', data: {} }] }], createdBy: 't' });
    }
    expect(positions((await store.readAll(0, 10))!.events)).toEqual([1, 2, 3]); // the old reader returned []
    expect(positions(await store.readLatest(10))).toEqual([3, 2, 1]);
    await a.query('ROLLBACK');
  });

  it('gives an aborted append\'s positions to the next one: no gaps', async () => {
    await a.query('BEGIN');
    await append(a, [{ streamId: 'aborted', expected: 'any' }]);
    await a.query('ROLLBACK');
    await append(b, [{ streamId: 'kept', expected: 'any' }]);
    const all = (await store.readAll(0, 10))!.events;
    expect(all.map((e) => [e.streamId, e.globalPosition])).toEqual([['kept', 1]]);
  });

  it('refuses, in the database, to move the log head backwards or to insert an event without a position from it', async () => {
    await append(observer, [{ streamId: 'x', expected: 'any' }]);
    await expect(observer.query('UPDATE event_log_head SET position = position - 1')).rejects.toThrow(/only moves forward/);
    await expect(observer.query('DELETE FROM event_log_head')).rejects.toThrow(/only moves forward/);
    await expect(observer.query(`INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, event_data, recorded_at, created_by)
      VALUES (gen_random_uuid(), 'x', 2, 'Thing', 'Happened', '{}', now(), 't')`)).rejects.toThrow(/global_position/);
  });
});

describe.skipIf(!(await postgresAvailable()))('a store written before migration 7 keeps its order', () => {
  let db: TestDatabase;
  afterEach(async () => db.drop());

  it('lists its events in their old (transaction id, position) order, then new ones by position, and verifies clean', async () => {
    db = await createTestDatabase();
    const sql = createPostgresClient({ connectionString: db.url, poolMax: 4 });
    await migrate(sql, 6); // the schema as it shipped before commit-ordered positions
    const [a, b] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
    await Promise.all([a.connect(), b.connect()]);
    const legacyAppend = (session: pg.Client, streamId: string) =>
      session.query('SELECT chronicle_append($1::jsonb) AS r', [appendPayload([{ streamId, expected: 'any' }])]).then(({ rows }) => Number(rows[0].r.events[0].globalPosition));
    // Old positions out of commit order: A takes its xid first, B takes position 1 and commits, A takes 2.
    const first = await legacyAppend(b, 'old-0');
    await a.query('BEGIN');
    await a.query('SELECT pg_current_xact_id()');
    const lower = await legacyAppend(b, 'old-1');
    const higher = await legacyAppend(a, 'old-2');
    await a.query('COMMIT');
    await Promise.all([a.end(), b.end()]);
    expect([first, lower, higher]).toEqual([1, 2, 3]);
    await sql.close();

    const store = await openEventStore({ kind: 'postgres', url: db.url, poolMax: 4 }); // migrates to 7
    try {
      expect((await store.sql.query<{ position: string; legacy_through: string }>('SELECT position::text, legacy_through::text FROM event_log_head'))[0])
        .toEqual({ position: '3', legacy_through: '3' });
      for (const streamId of ['new-1', 'new-2']) {
        await store.append({ streams: [{ streamId, aggregateType: 'Thing', expectedVersion: 'any', events: [{ eventId: randomUUID(), type: 'Happened', data: {} }] }], createdBy: 't' });
      }
      const all = (await store.readAll(0, 100))!.events;
      expect(all.map((e) => [e.streamId, e.globalPosition])).toEqual([['old-0', 1], ['old-2', 3], ['old-1', 2], ['new-1', 4], ['new-2', 5]]);
      // From every cursor, the rest of that same order; in pages of any size.
      for (let i = 0; i < all.length; i++) {
        expect(positions((await store.readAll(all[i]!.globalPosition, 100))!.events)).toEqual(positions(all.slice(i + 1)));
        expect(await sqlCountEventsAfter(store.sql)(all[i]!.globalPosition, 100)).toBe(all.length - i - 1);
      }
      expect(positions((await store.readAll(0, 2))!.events)).toEqual([1, 3]);
      expect(positions((await store.readAll(2, 1))!.events)).toEqual([4]);
      expect(positions(await store.readLatest(10))).toEqual(positions(all).reverse());
      // The verifier reads the unsealed part in the same order (nothing sealed here).
      const seen: number[] = [];
      for await (const e of sqlVerifySource(store.sql).unsealed()) seen.push(e.globalPosition);
      expect(seen).toEqual(positions(all));
    } finally {
      await store.close();
    }
  });

  it('needs nothing special when the old positions were already in commit order (the usual case)', async () => {
    db = await createTestDatabase();
    const sql = createPostgresClient({ connectionString: db.url, poolMax: 2 });
    await migrate(sql, 6);
    for (const streamId of ['old-1', 'old-2']) await sql.query('SELECT chronicle_append($1::jsonb)', [appendPayload([{ streamId, expected: 'any' }])]);
    await sql.close();
    const store = await openEventStore({ kind: 'postgres', url: db.url, poolMax: 2 });
    try {
      expect((await store.sql.query<{ legacy_through: string }>('SELECT legacy_through::text FROM event_log_head'))[0]!.legacy_through).toBe('0');
      // The (transaction_id, global_position) index orders nothing any more, and no append pays for it.
      expect(await store.sql.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'events_commit_order_idx'`)).toEqual([]);
      await store.append({ streams: [{ streamId: 'new', aggregateType: 'Thing', expectedVersion: 'any', events: [{ eventId: randomUUID(), type: 'Happened', data: {} }] }], createdBy: 't' });
      expect((await store.readAll(0, 10))!.events.map((e) => [e.streamId, e.globalPosition])).toEqual([['old-1', 1], ['old-2', 2], ['new', 3]]);
    } finally {
      await store.close();
    }
  });
});
