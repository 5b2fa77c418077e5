// What the quorum gate costs where there is no synchronous standby (the shared PostgreSQL here; a single
// server): a page of $all is still one statement, its WAL mark and the setting riding along as columns, and
// nothing else is sent, not even on a page that has events. Measured too (printed, not asserted: timing on a
// shared two-core machine): the gated statement against the plain one, same pages, interleaved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { eventColumns } from '../src/adapters/event-store/sql/event-rows.js';
import { markedAllReader } from '../src/adapters/event-store/sql/read-all.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { SqlEventStore } from '../src/adapters/event-store/sql/sql-event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

const servicesUp = await postgresAvailable();

describe.skipIf(!servicesUp)('the quorum gate without synchronous replication', () => {
  let db: TestDatabase;
  let client: SqlClient;
  let store: SqlEventStore;
  let statements = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    const inner = createPostgresClient({ connectionString: db.url, poolMax: 2 });
    // Counts every statement the store sends on its own connections (pool and transactions alike).
    client = {
      ...inner,
      query: (text, params, name) => { statements += 1; return inner.query(text, params, name); },
      queryCommitting: (text, params, name) => { statements += 1; return inner.queryCommitting!(text, params, name); },
      transaction: (fn) => inner.transaction((tx) => fn({ ...tx, query: (text, params, name) => { statements += 1; return tx.query(text, params, name); } })),
    };
    store = await SqlEventStore.open(client, { groupCommit: false });
    for (let i = 1; i <= 20; i++) {
      const result = await store.append({
        streams: [{ streamId: `gate-${i}`, aggregateType: 'gate', expectedVersion: 'no_stream', events: [{ eventId: crypto.randomUUID(), type: 'Noted', data: { i } }] }],
        createdBy: 'test',
      });
      expect(result.ok).toBe(true);
    }
  }, 30_000);
  afterAll(async () => {
    await client?.close();
    await db?.drop();
  });

  it('the server has no synchronous standby (else this file measures something else)', async () => {
    expect((await client.query<{ s: string }>(`SELECT current_setting('synchronous_standby_names') AS s`))[0]!.s).toBe('');
  });

  it('a page of $all with events is one statement, and so is an empty one', async () => {
    for (const [after, expected] of [[0, 20], [10, 10], [20, 0]] as const) {
      const before = statements;
      const page = await store.readAll(after, 100);
      expect(page?.events).toHaveLength(expected);
      expect(statements - before, `readAll(${after})`).toBe(1);
    }
    // 200 pages in a row: 200 statements.
    const before = statements;
    for (let i = 0; i < 200; i++) await store.readAll(i % 20, 100);
    expect(statements - before).toBe(200);
  });

  it('measures the gated statement against the plain one (printed)', async () => {
    const plain = markedAllReader(eventColumns('e'), 'measure_read_all', false);
    const gated = markedAllReader(eventColumns('e'), 'measure_read_all', true);
    const rounds = 1_000;
    const timeOf = async (reader: typeof plain) => {
      const started = performance.now();
      for (let i = 0; i < 50; i++) await reader(client, 0, 0, 20);
      return performance.now() - started;
    };
    let plainMs = 0;
    let gatedMs = 0;
    await timeOf(plain); // prepare both statements first
    await timeOf(gated);
    for (let r = 0; r < rounds / 50; r++) {
      plainMs += await timeOf(plain);
      gatedMs += await timeOf(gated);
    }
    console.log(`quorum gate, no synchronous standby, ${rounds} pages of 20 events each way: plain ${(plainMs * 1000 / rounds).toFixed(0)} µs/page, gated ${(gatedMs * 1000 / rounds).toFixed(0)} µs/page (${(((gatedMs - plainMs) / plainMs) * 100).toFixed(1)}%)`);
    expect(gatedMs).toBeGreaterThan(0);
  }, 60_000);
});
