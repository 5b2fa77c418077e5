// Rebuild speed on a store of some size (PostgreSQL event store → PostgreSQL read store in another database):
// 20,000 account events appended straight to the store (the ledger's event shapes, balanceAfter consistent),
// then ReadProcessor.rebuild() from position 0. Shows the rebuilt model equals a model computed from $all,
// that a second rebuild is identical, and prints events/s (the figure quoted in the report / README).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../src/adapters/event-bus/in-process/in-process-event-bus.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { SqlEventStore } from '../src/adapters/event-store/sql/sql-event-store.js';
import { SqlReadModel } from '../src/adapters/read-model/sql-read-model.js';
import { ReadProcessor } from '../src/application/read-processor.js';
import type { NewEvent } from '../src/ports/event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

const ACCOUNTS = 200;
const DEPOSITS = 99; // + AccountCreated = 100 events per account

describe.skipIf(!(await postgresAvailable()))('read model rebuild speed', () => {
  let eventDb: TestDatabase;
  let readDb: TestDatabase;
  let store: SqlEventStore;
  let readSql: SqlClient;

  beforeAll(async () => {
    [eventDb, readDb] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    store = await SqlEventStore.open(createPostgresClient({ connectionString: eventDb.url, poolMax: 4 }));
    readSql = createPostgresClient({ connectionString: readDb.url, poolMax: 2 });
  });
  afterAll(async () => {
    await store?.close();
    await readSql?.close();
    await eventDb?.drop();
    await readDb?.drop();
  });

  it(`replays ${ACCOUNTS * (DEPOSITS + 1)} events from position 0 and reports events/s`, async () => {
    for (let a = 0; a < ACCOUNTS; a += 10) {
      const streams = Array.from({ length: 10 }, (_, i) => {
        const accountId = `B${a + i}`;
        let balance = 0n;
        const events: NewEvent[] = [{ eventId: randomUUID(), type: 'AccountCreated', data: { accountId, owner: 'Bench', currency: 'EUR' } }];
        for (let d = 1; d <= DEPOSITS; d += 1) {
          balance += BigInt(d);
          events.push({ eventId: randomUUID(), type: 'MoneyDeposited', data: { accountId, amount: String(d), currency: 'EUR', balanceAfter: balance.toString() } });
        }
        return { streamId: `account-${accountId}`, aggregateType: 'Account', expectedVersion: 'no_stream' as const, events };
      });
      const result = await store.append({ streams, createdBy: 'rebuild-test' });
      expect(result.ok).toBe(true);
    }
    const model = await SqlReadModel.open(readSql);
    const processor = new ReadProcessor({ bus: new InProcessEventBus(), store, readModel: model });
    const first = await processor.rebuild();
    const total = ACCOUNTS * (DEPOSITS + 1);
    expect(first).toMatchObject({ events: total, applied: total, deadLettered: 0 });
    const contents = await model.contents();
    expect(contents.transactions.length).toBe(ACCOUNTS * DEPOSITS);
    const expectedBalance = String((DEPOSITS * (DEPOSITS + 1)) / 2);
    expect(contents.balances.every((b) => b.balance === expectedBalance && b.version === DEPOSITS + 1)).toBe(true);
    const second = await processor.rebuild();
    expect(await model.contents()).toEqual(contents);
    expect(await processor.status()).toMatchObject({ eventsApplied: total, position: second.position });
    for (const r of [first, second]) console.log(`[rebuild] ${r.events} events in ${r.durationMs} ms = ${r.eventsPerSecond} events/s (PostgreSQL → PostgreSQL)`);
  }, 60_000);
});
