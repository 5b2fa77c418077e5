// The account projection on both read stores (PGlite and PostgreSQL), fed with real events from a ledger
// (createLedger on an in-memory PGlite event store). How each claim is shown:
// - exactly once: every event applied a second time returns 'duplicate', and the whole model (every balance
//   row, every transaction row) and the checkpoint are unchanged.
// - a gap throws: an account's version 3 before its version 2 throws ProjectionGapError and changes nothing;
//   once version 2 is applied, version 3 applies, once.
// - the model is what the store says: after random commands, each balance equals GET /accounts/:id/balance,
//   and the rows equal a model computed here, independently, from the store's events.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pgliteClient } from '../src/adapters/event-store/pglite/pglite-client.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { SqlReadModel } from '../src/adapters/read-model/sql-read-model.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { AccountProjection, MalformedEventError, ProjectionGapError } from '../src/projections/account-projection.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { postCommand, randomCommands as randomCommandsOn } from './support/random-commands.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';
import { freshPglite, pgliteTarget } from './support/stores.js';

const NAME = 'projection-test';

let ledger: Ledger;
let accounts = 0;

const post = (url: string, payload: object) => postCommand(ledger, url, payload);
const randomCommands = (count: number, commands: number) =>
  randomCommandsOn(ledger, Array.from({ length: count }, () => `P${++accounts}`), commands);

beforeAll(async () => {
  ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, roles: ['ledger-api'] });
});
afterAll(async () => {
  await ledger?.close();
});

const readStores: { name: string; available: () => Promise<boolean>; open(): Promise<{ db: SqlClient; close(): Promise<void> }> }[] = [
  {
    name: 'PGlite',
    available: async () => true,
    async open() {
      const db = pgliteClient(await freshPglite('empty'));
      return { db, close: () => db.close() };
    },
  },
  {
    name: 'PostgreSQL',
    available: postgresAvailable,
    async open() {
      const database: TestDatabase = await createTestDatabase();
      const db = createPostgresClient({ connectionString: database.url, poolMax: 4 });
      return { db, async close() { await db.close(); await database.drop(); } };
    },
  },
];

for (const kind of readStores) {
  describe.skipIf(!(await kind.available()))(`account projection on a ${kind.name} read store`, () => {
    let opened: Awaited<ReturnType<typeof kind.open>>;
    let model: SqlReadModel;
    let projection: AccountProjection;

    beforeAll(async () => {
      opened = await kind.open();
      // Twice at once: the schema setup is idempotent and serialised by its advisory lock.
      [model] = await Promise.all([SqlReadModel.open(opened.db), SqlReadModel.open(opened.db)]);
      projection = new AccountProjection(model, NAME);
    });
    afterAll(async () => {
      await opened?.close();
    });
    beforeEach(async () => {
      await model.reset(NAME);
    });

    it('applying the same event twice changes nothing: not a row, not the checkpoint', async () => {
      await randomCommands(4, 40);
      const events = await allEvents(ledger.store);
      for (const e of events) expect(await projection.apply(e)).toBe('applied');
      const once = await model.contents();
      const checkpoint = await model.checkpoint(NAME);
      expect(checkpoint).toMatchObject({ position: events.at(-1)!.globalPosition, eventsApplied: events.length });

      for (const e of events) expect(await projection.apply(e)).toBe('duplicate');
      // And redelivered out of order, backwards.
      for (const e of [...events].reverse()) expect(await projection.apply(e)).toBe('duplicate');
      expect(await projection.applyBatch(events)).toEqual({ applied: 0, duplicates: events.length, ignored: 0, outcomes: events.map(() => 'duplicate') });
      expect(await model.contents()).toEqual(once);
      expect(await model.checkpoint(NAME)).toEqual(checkpoint);
      expect(once.transactions.length).toBe(new Set(once.transactions.map((t) => t.eventId)).size);
    });

    it('an event after a gap throws and changes nothing; once the gap is filled it applies, once', async () => {
      const [id] = await randomCommands(1, 0);
      await post('/commands/deposit', { accountId: id, amount: '100' });
      await post('/commands/withdraw', { accountId: id, amount: '30' });
      await post('/commands/deposit', { accountId: id, amount: '5' });
      const [v1, v2, v3, v4] = (await ledger.store.readStream(`account-${id}`, { count: 10, direction: 'forward' })).events;
      await expect(projection.apply(v2!)).rejects.toBeInstanceOf(ProjectionGapError); // no account row yet
      expect(await projection.apply(v1!)).toBe('applied');
      const before = await model.contents();
      const checkpoint = await model.checkpoint(NAME);
      await expect(projection.apply(v3!)).rejects.toBeInstanceOf(ProjectionGapError);
      await expect(projection.apply(v4!)).rejects.toBeInstanceOf(ProjectionGapError);
      await expect(projection.applyBatch([v3!, v2!])).rejects.toBeInstanceOf(ProjectionGapError); // all or nothing
      expect(await model.contents()).toEqual(before);
      expect(await model.checkpoint(NAME)).toEqual(checkpoint);

      expect(await projection.apply(v2!)).toBe('applied');
      expect(await projection.apply(v3!)).toBe('applied');
      expect(await projection.apply(v3!)).toBe('duplicate');
      expect(await projection.apply(v4!)).toBe('applied');
      expect(await model.balance(id!)).toMatchObject({ balance: '75', version: 4, lastGlobalPosition: v4!.globalPosition });
      expect((await model.contents()).transactions.map((t) => t.eventId)).toEqual([v2!, v3!, v4!].map((e) => e.eventId));
      expect(await model.checkpoint(NAME)).toMatchObject({ position: v4!.globalPosition, eventsApplied: 4 });
    });

    it('balances and transaction rows equal what the event store says, applied one by one or in batches', async () => {
      const ids = await randomCommands(6, 120);
      const events = await allEvents(ledger.store);
      for (const e of events) await projection.apply(e);
      const contents = await model.contents();
      expect(contents).toEqual(expectedModel(events));
      for (const id of ids) {
        const api = (await ledger.queries.balance(id))!; // the event store's answer
        expect(await model.balance(id)).toEqual({
          accountId: id, owner: api.owner, currency: api.currency, balance: api.balance, version: api.version,
          lastGlobalPosition: api.globalPosition, openedAt: api.openedAt, lastEventAt: api.lastEventAt,
        });
      }

      await model.reset(NAME);
      for (let i = 0; i < events.length; i += 97) await projection.applyBatch(events.slice(i, i + 97));
      expect(await model.contents()).toEqual(contents);
      expect(await model.checkpoint(NAME)).toMatchObject({ position: events.at(-1)!.globalPosition, eventsApplied: events.length });
    });

    it('ignores events of other aggregates (position moves, nothing counted) and refuses malformed account events', async () => {
      const [id] = await randomCommands(1, 0);
      const [created] = (await ledger.store.readStream(`account-${id}`, { count: 1, direction: 'forward' })).events;
      await projection.apply(created!);
      const other: RecordedEvent = { ...created!, eventId: '00000000-0000-4000-8000-000000000001', streamId: 'order-1', aggregateType: 'Order', type: 'OrderPlaced', globalPosition: 999_999 };
      expect(await projection.apply(other)).toBe('ignored');
      expect(await model.checkpoint(NAME)).toMatchObject({ position: 999_999, eventsApplied: 1 });
      const bad: RecordedEvent = { ...created!, eventId: '00000000-0000-4000-8000-000000000002', streamVersion: 2, type: 'MoneyDeposited', data: { accountId: id, amount: '1e3', balanceAfter: '1000' } };
      await expect(projection.apply(bad)).rejects.toBeInstanceOf(MalformedEventError);
      expect(await model.balance(id!)).toMatchObject({ balance: '0', version: 1 });
    });

    // PGlite is one connection: a lock is never contended there, so this needs PostgreSQL.
    it.skipIf(kind.name === 'PGlite')('withProjectionLockAlone: while it runs, rebuildRunning() is true and a projection write waits for it', async () => {
      expect(await model.rebuildRunning()).toBe(false);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const rebuild = model.withProjectionLockAlone(async () => {
        entered();
        await held;
      });
      await inside;
      expect(await model.rebuildRunning()).toBe(true);
      let written = false;
      const write = model.transaction(async () => {
        written = true;
      });
      // The write is seen waiting on the advisory lock (not merely slow): then it has not run.
      await expect.poll(async () => (await opened.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
      ))[0]!.n, { timeout: 5_000, interval: 20 }).toBe(1);
      expect(written).toBe(false);
      release();
      await rebuild;
      await write;
      expect(written).toBe(true);
      expect(await model.rebuildRunning()).toBe(false);
    });
  });
}
