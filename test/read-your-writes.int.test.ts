// The query side as a client sees it, on the embedded default (PGlite, in-process bus, one process) and on
// PostgreSQL with a separate read-store database:
// - balances and the account list come from the read model, with freshness (position, last update, lag);
// - read-your-writes: ?minPosition=N waits until the event at N is applied, then answers `reached`; past the
//   bound it answers `stale` with the model's position. A stopped read processor makes the stale case real;
//   a dead-lettered event is never "reached" (the checkpoint passed it, the account row did not);
// - reaching N includes every write that committed before N's transaction began, whatever the account;
// - projection management: list, state (sums per currency equal the store's), reset (rebuild) async and
//   waited, dead letters listed and replayed over HTTP, 404s by name;
// - a rebuild locks out a read processor in another process (PostgreSQL): it waits, nothing is
//   dead-lettered, and the model ends equal to the store;
// - a read store of another schema version is dropped and rebuilt from the event store on start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { READ_MODEL_SCHEMA_VERSION } from '../src/adapters/read-model/sql-read-model.js';
import { createLedger, type Ledger, type LedgerOptions } from '../src/ledger.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { randomCommands } from './support/random-commands.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';
import { pgliteTarget } from './support/stores.js';

const pgUp = await postgresAvailable();

async function command(ledger: Ledger, url: string, payload: object): Promise<{ globalPosition: number; balances: Record<string, string> }> {
  const response = await ledger.app.inject({ method: 'POST', url, payload });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}
const get = async (ledger: Ledger, url: string) => ledger.app.inject({ url });

const isPoison = (event: RecordedEvent) => event.streamId === 'account-POISON' && event.type === 'MoneyDeposited';

for (const kind of ['pglite', 'postgres'] as const) {
  describe.skipIf(kind === 'postgres' && !pgUp)(`queries from the read model (${kind})`, () => {
    let ledger: Ledger;
    const dbs: TestDatabase[] = [];
    beforeAll(async () => {
      let options: LedgerOptions;
      if (kind === 'pglite') options = { store: await pgliteTarget() };
      else {
        const [events, read] = [await createTestDatabase(), await createTestDatabase()];
        dbs.push(events, read);
        options = { store: { kind: 'postgres', url: events.url, poolMax: 8 }, readStore: { kind: 'postgres', url: read.url, poolMax: 4 } };
      }
      ledger = await createLedger({
        ...options, processMetrics: false, readWaitMaxMs: 3_000, lagIntervalMs: 50,
        readProcessor: {
          maxDeliver: 2, backoffMs: [5],
          beforeApply: (event) => {
            if (isPoison(event)) throw new Error('poison (injected by the test)');
          },
        },
      });
    });
    afterAll(async () => {
      await ledger?.close();
      for (const db of dbs) await db.drop();
    });

    it('a balance read with minPosition reflects the command; freshness says where the model is', async () => {
      await command(ledger, '/commands/create-account', { accountId: 'R1', owner: 'Reader', currency: 'EUR' });
      const deposit = await command(ledger, '/commands/deposit', { accountId: 'R1', amount: '250' });
      const response = await get(ledger, `/accounts/R1/balance?minPosition=${deposit.globalPosition}`);
      expect(response.statusCode).toBe(200);
      expect(response.headers['chronicle-freshness']).toBe('reached');
      const body = response.json();
      expect(body).toMatchObject({ accountId: 'R1', balance: '250', version: 2, globalPosition: deposit.globalPosition });
      expect(body.freshness).toMatchObject({ status: 'reached', minPosition: deposit.globalPosition });
      expect(body.freshness.position).toBeGreaterThanOrEqual(deposit.globalPosition); // single writer here: positions grow
      expect(Date.parse(body.freshness.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
      // Without minPosition: the model as it is, eventually consistent, with the monitor's lag. The lag is a
      // measurement taken every 50 ms: only one taken after the deposit was applied tells (an older one may say
      // 0 from before the deposit, or 1 from a read of the checkpoint just before it was applied).
      const appliedBy = Date.now();
      let plain: { freshness: { status: string; lag: { events: number; ms: number; capped: boolean; measuredAt: string } | null; minPosition?: number } } | undefined;
      await expect.poll(async () => {
        plain = (await get(ledger, '/accounts/R1/balance')).json();
        const lag = plain!.freshness.lag;
        return lag !== null && Date.parse(lag.measuredAt) > appliedBy && lag.events === 0;
      }, { timeout: 5_000 }).toBe(true);
      expect(plain!.freshness).toMatchObject({ status: 'eventual', lag: { events: 0, ms: 0, capped: false } });
      expect(plain!.freshness.minPosition).toBeUndefined();
    });

    it('balance reads at once (answered by one query) each get their own account, a missing one 404, one checkpoint', async () => {
      const ids = ['BATCH-1', 'BATCH-2', 'BATCH-3'];
      let last = 0;
      for (const [i, id] of ids.entries()) {
        await command(ledger, '/commands/create-account', { accountId: id, owner: `Batch ${i}`, currency: 'EUR' });
        last = (await command(ledger, '/commands/deposit', { accountId: id, amount: String(100 * (i + 1)) })).globalPosition;
      }
      await get(ledger, `/accounts/BATCH-3/balance?minPosition=${last}`);
      const answers = await Promise.all([...ids, 'BATCH-NONE', ...ids.reverse()].map((id) => get(ledger, `/accounts/${id}/balance`)));
      const bodies = answers.map((a) => a.json() as { accountId?: string; balance?: string; freshness: { position: number } });
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 404, 200, 200, 200]);
      expect(bodies.map((b) => b.balance ?? null)).toEqual(['100', '200', '300', null, '300', '200', '100']);
      expect(bodies.map((b) => b.accountId ?? null)).toEqual(['BATCH-1', 'BATCH-2', 'BATCH-3', null, 'BATCH-3', 'BATCH-2', 'BATCH-1']);
      const positions = new Set(answers.filter((a) => a.statusCode === 200).map((a) => (a.json() as { freshness: { position: number } }).freshness.position));
      expect([...positions].every((p) => p >= last)).toBe(true);
    });

    it('reaching a position includes every earlier write, on any account', async () => {
      await command(ledger, '/commands/create-account', { accountId: 'C-A', owner: 'A', currency: 'EUR' });
      await command(ledger, '/commands/create-account', { accountId: 'C-B', owner: 'B', currency: 'EUR' });
      await command(ledger, '/commands/deposit', { accountId: 'C-A', amount: '11' });
      const later = await command(ledger, '/commands/deposit', { accountId: 'C-B', amount: '22' });
      const a = (await get(ledger, `/accounts/C-A/balance?minPosition=${later.globalPosition}`)).json();
      expect(a).toMatchObject({ balance: '11', freshness: { status: 'reached' } });
      const list = (await get(ledger, `/accounts?minPosition=${later.globalPosition}&limit=1000`)).json();
      expect(list.freshness.status).toBe('reached');
      expect(list.accounts.filter((x: { accountId: string }) => x.accountId.startsWith('C-'))).toEqual([
        expect.objectContaining({ accountId: 'C-A', balance: '11' }), expect.objectContaining({ accountId: 'C-B', balance: '22' }),
      ]);
      // A raw event on another aggregate is a position too.
      const raw = await ledger.app.inject({ method: 'POST', url: '/streams/order-77/events', payload: [{ type: 'OrderPlaced', data: {} }] });
      expect(raw.statusCode).toBe(201);
      const position = raw.json().events[0].globalPosition as number;
      expect((await get(ledger, `/accounts/C-A/balance?minPosition=${position}`)).json().freshness.status).toBe('reached');
    });

    it('past the bound: the model\'s answer marked stale, with its position; then reached once the processor runs', async () => {
      await command(ledger, '/commands/create-account', { accountId: 'S1', owner: 'Stale', currency: 'EUR' });
      const first = await command(ledger, '/commands/deposit', { accountId: 'S1', amount: '5' });
      expect((await get(ledger, `/accounts/S1/balance?minPosition=${first.globalPosition}`)).json().balance).toBe('5');
      await ledger.processor!.stop();
      try {
        const second = await command(ledger, '/commands/deposit', { accountId: 'S1', amount: '7' });
        const started = Date.now();
        const stale = await get(ledger, `/accounts/S1/balance?minPosition=${second.globalPosition}&maxWaitMs=150`);
        expect(Date.now() - started).toBeGreaterThanOrEqual(140);
        expect(stale.statusCode).toBe(200);
        expect(stale.headers['chronicle-freshness']).toBe('stale');
        expect(stale.json()).toMatchObject({ balance: '5', version: 2, freshness: { status: 'stale', minPosition: second.globalPosition } });
        expect(stale.json().freshness.waitedMs).toBeGreaterThanOrEqual(140);
        expect(stale.json().freshness.position).toBeLessThan(second.globalPosition);
        // A waiting query is answered as soon as the processor catches up, not at the end of its bound.
        const waiting = get(ledger, `/accounts/S1/balance?minPosition=${second.globalPosition}&maxWaitMs=3000`);
        await new Promise((r) => setTimeout(r, 100));
        await ledger.processor!.start();
        const fresh = (await waiting).json();
        expect(fresh).toMatchObject({ balance: '12', version: 3, freshness: { status: 'reached' } });
        expect(fresh.freshness.waitedMs).toBeLessThan(3_000);
      } finally {
        await ledger.processor!.start();
      }
    });

    it('refuses bad read-your-writes parameters with 4xx and the error shape', async () => {
      const cases: [string, number, string][] = [
        ['/accounts/R1/balance?minPosition=999999999', 404, 'position_not_found'],
        ['/accounts?minPosition=999999999', 404, 'position_not_found'],
        ['/accounts/R1/balance?minPosition=0', 400, 'validation_failed'],
        ['/accounts/R1/balance?minPosition=-1', 400, 'validation_failed'],
        ['/accounts/R1/balance?minPosition=abc', 400, 'validation_failed'],
        ['/accounts/R1/balance?minPosition=1&maxWaitMs=3001', 400, 'validation_failed'],
        ['/accounts/R1/balance?maxWaitMs=10', 400, 'validation_failed'],
        ['/accounts/R1/balance?minPosition=1&at=2026-01-01T00:00:00Z', 400, 'validation_failed'],
        ['/accounts/NOBODY/balance', 404, 'account_not_found'],
        ['/projections/nope', 404, 'projection_not_found'],
        ['/projections/nope/state', 404, 'projection_not_found'],
        ['/projections/accounts/dead-letters/00000000-0000-4000-8000-000000000000/replay', 404, 'route_not_found'], // GET: no such route
      ];
      for (const [url, status, code] of cases) {
        const response = await get(ledger, url);
        expect(response.statusCode, url).toBe(status);
        expect(response.json().error.code, url).toBe(code);
      }
      const replay = await ledger.app.inject({ method: 'POST', url: '/projections/accounts/dead-letters/00000000-0000-4000-8000-000000000000/replay' });
      expect(replay.statusCode).toBe(404);
      expect(replay.json().error.code).toBe('dead_letter_not_found');
    });

    it('a dead-lettered event is never "reached"; replayed over HTTP, it is', async () => {
      await command(ledger, '/commands/create-account', { accountId: 'POISON', owner: 'P', currency: 'EUR' });
      const poison = await command(ledger, '/commands/deposit', { accountId: 'POISON', amount: '9' });
      const after = await command(ledger, '/commands/deposit', { accountId: 'R1', amount: '1' });
      // Later events still flow past the dead letter.
      expect((await get(ledger, `/accounts/R1/balance?minPosition=${after.globalPosition}`)).json().freshness.status).toBe('reached');
      const stale = (await get(ledger, `/accounts/POISON/balance?minPosition=${poison.globalPosition}&maxWaitMs=100`)).json();
      expect(stale).toMatchObject({ balance: '0', freshness: { status: 'stale' } });
      const letters = (await get(ledger, '/projections/accounts/dead-letters')).json().deadLetters;
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ attempts: 2, event: { streamId: 'account-POISON', globalPosition: poison.globalPosition } });
      expect(letters[0].error).toContain('poison (injected by the test)');
      expect((await get(ledger, '/projections/accounts')).json()).toMatchObject({ deadLetters: 1 });
      const replay = await ledger.app.inject({ method: 'POST', url: `/projections/accounts/dead-letters/${letters[0].eventId}/replay` });
      expect(replay.statusCode).toBe(200);
      expect(replay.json()).toEqual({ eventId: letters[0].eventId, outcome: 'applied' });
      expect((await get(ledger, `/accounts/POISON/balance?minPosition=${poison.globalPosition}&maxWaitMs=0`)).json())
        .toMatchObject({ balance: '9', freshness: { status: 'reached' } });
      expect((await get(ledger, '/projections/accounts/dead-letters')).json().deadLetters).toEqual([]);
    });

    it('projections: listed with status and lag; state sums equal the store; reset rebuilds the identical model', async () => {
      await randomCommands(ledger, ['PJ1', 'PJ2', 'PJ3', 'PJ4'], 60);
      const all = await allEvents(ledger.store);
      const last = all.reduce((max, e) => Math.max(max, e.globalPosition), 0);
      await get(ledger, `/accounts?minPosition=${last}`);
      await expect.poll(async () => (await get(ledger, '/projections')).json().projections[0].status, { timeout: 5_000 }).toBe('caught-up');
      const listed = (await get(ledger, '/projections')).json().projections;
      expect(listed).toEqual([expect.objectContaining({ name: 'accounts', consumer: 'running', deadLetters: 0, lag: expect.objectContaining({ events: 0 }) })]);
      const { lag: _, ...stable } = listed[0]; // the lag monitor may measure again in between
      expect((await get(ledger, '/projections/accounts')).json()).toMatchObject(stable);

      const expected = expectedModel(all);
      const sums: Record<string, bigint> = {};
      for (const b of expected.balances) sums[b.currency] = (sums[b.currency] ?? 0n) + BigInt(b.balance);
      const state = (await get(ledger, '/projections/accounts/state')).json();
      expect(state).toMatchObject({ name: 'accounts', state: { accounts: expected.balances.length, transactions: expected.transactions.length } });
      expect(state.state.balancesByCurrency).toEqual(Object.fromEntries(Object.entries(sums).map(([c, v]) => [c, String(v)])));
      const before = await ledger.readModel!.contents();
      expect(before).toEqual(expected);

      const waited = await ledger.app.inject({ method: 'POST', url: '/projections/accounts/reset?wait=true' });
      expect(waited.statusCode).toBe(200);
      expect(waited.json()).toMatchObject({ name: 'accounts', status: 'rebuilt', report: { events: all.length, deadLettered: 0 } });
      expect(await ledger.readModel!.contents()).toEqual(before);

      const started = await ledger.app.inject({ method: 'POST', url: '/projections/accounts/reset' });
      expect(started.statusCode).toBe(202);
      expect(started.json()).toMatchObject({ name: 'accounts', status: 'rebuilding' });
      const again = await ledger.app.inject({ method: 'POST', url: '/projections/accounts/reset' });
      expect([202, 409]).toContain(again.statusCode); // 409 rebuild_in_progress while the first runs (it may be done already)
      if (again.statusCode === 409) expect(again.json().error.code).toBe('rebuild_in_progress');
      await expect.poll(async () => (await get(ledger, '/projections/accounts')).json().lastRebuild?.finishedAt > waited.json().report.finishedAt, { timeout: 10_000 }).toBe(true);
      await expect.poll(async () => (await get(ledger, '/projections/accounts')).json().rebuilding, { timeout: 10_000 }).toBe(null);
      expect(await ledger.readModel!.contents()).toEqual(before);
      // Live afterwards.
      const next = await command(ledger, '/commands/deposit', { accountId: 'PJ1', amount: '3' });
      expect((await get(ledger, `/accounts/PJ1/balance?minPosition=${next.globalPosition}`)).json().freshness.status).toBe('reached');
    });

    it('/metrics carries relay and projection lag, outcomes, redeliveries, dead letters and visibility', async () => {
      const text = (await get(ledger, '/metrics')).body;
      for (const series of [
        /chronicle_relay_lag_events \d+/, /chronicle_relay_lag_seconds [\d.e-]+/, /chronicle_relay_events_published_total [1-9]\d*/,
        /chronicle_projection_lag_events\{projection="accounts"\} \d+/, /chronicle_projection_lag_seconds\{projection="accounts"\} [\d.e-]+/,
        /chronicle_projection_events_total\{projection="accounts",outcome="applied"\} [1-9]\d*/,
        /chronicle_projection_redeliveries_total\{projection="accounts"\} [1-9]\d*/, // the poison was delivered twice
        /chronicle_projection_dead_letters_total\{projection="accounts"\} 1/,
        /chronicle_projection_visibility_seconds_count\{projection="accounts"\} [1-9]\d*/,
      ]) expect(text).toMatch(series);
    });
  });
}

describe.skipIf(!pgUp)('a rebuild locks out the read processor of another process (PostgreSQL)', () => {
  let events: TestDatabase;
  let read: TestDatabase;
  let live: Ledger;
  let admin: Ledger;
  beforeAll(async () => {
    [events, read] = [await createTestDatabase(), await createTestDatabase()];
    const stores = { store: { kind: 'postgres', url: events.url, poolMax: 8 }, readStore: { kind: 'postgres', url: read.url, poolMax: 4 } } as const;
    const errors: unknown[] = [];
    live = await createLedger({ ...stores, processMetrics: false, readProcessor: { onError: (e) => errors.push(e) } });
    admin = await createLedger({ ...stores, processMetrics: false, roles: ['query-api'] });
  });
  afterAll(async () => {
    await admin?.close();
    await live?.close();
    await events?.drop();
    await read?.drop();
  });

  it('the live processor waits for the rebuild, nothing is dead-lettered, and the model equals the store', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `L${i}`);
    await randomCommands(live, ids, 400);
    // Rebuild from the other process while commands keep arriving at the live one.
    let writing = true;
    const traffic = (async () => {
      let n = 0;
      while (writing) {
        await live.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: ids[n++ % ids.length], amount: '1' } });
      }
      return n;
    })();
    const locked = new Promise<boolean>((resolve) => {
      const probe = setInterval(async () => {
        if (await live.readModel!.rebuildRunning()) {
          clearInterval(probe);
          resolve(true);
        }
      }, 2);
      setTimeout(() => { clearInterval(probe); resolve(false); }, 10_000);
    });
    const report = await admin.processor!.rebuild();
    expect(await locked).toBe(true); // the other process saw the rebuild's lock
    writing = false;
    const written = await traffic;
    expect(written).toBeGreaterThan(0);
    expect(report.deadLettered).toBe(0);
    const all = await allEvents(live.store);
    const last = all.reduce((max, e) => Math.max(max, e.globalPosition), 0);
    const caught = (await live.app.inject({ url: `/accounts?minPosition=${last}&maxWaitMs=5000` })).json();
    expect(caught.freshness.status).toBe('reached');
    expect(await live.readModel!.contents()).toEqual(expectedModel(all));
    expect(await live.readModel!.deadLetterCount('accounts')).toBe(0);
  }, 60_000);

  it('a read store of another schema version is dropped and rebuilt from the events on start', async () => {
    const all = await allEvents(live.store);
    await live.close();
    const sql = createPostgresClient({ connectionString: read.url, poolMax: 1 });
    try {
      await sql.query('UPDATE read_model_schema SET version = $1', [READ_MODEL_SCHEMA_VERSION - 1]);
      const restarted = await createLedger({
        store: { kind: 'postgres', url: events.url, poolMax: 4 }, readStore: { kind: 'postgres', url: read.url, poolMax: 4 }, processMetrics: false,
      });
      try {
        // Dropped, not migrated; the processor's first act was a rebuild from the event store.
        await expect(restarted.processor!.status()).resolves.toMatchObject({ lastRebuild: { events: all.length, deadLettered: 0 } });
        expect(await restarted.readModel!.contents()).toEqual(expectedModel(all));
      } finally {
        await restarted.close();
      }
      expect((await sql.query<{ version: number }>('SELECT version FROM read_model_schema'))[0]!.version).toBe(READ_MODEL_SCHEMA_VERSION);
    } finally {
      await sql.close();
    }
  });
});
