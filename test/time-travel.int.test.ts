// Balance at an instant, to the microsecond, on both stores: an event recorded at T counts at T and not one
// microsecond earlier. (PGlite's clock ticks in milliseconds, PostgreSQL's in microseconds; the stored time
// and the query are microseconds on both.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { pgliteTarget } from './support/stores.js';

/** ISO instant with microseconds <-> integer microseconds since the epoch. */
const toMicros = (iso: string): bigint => {
  const [seconds, fraction = ''] = iso.replace('Z', '').split('.');
  return BigInt(Date.parse(`${seconds}Z`)) * 1000n + BigInt(fraction.padEnd(6, '0'));
};
const fromMicros = (micros: bigint): string => {
  const ms = Number(micros / 1000n);
  return `${new Date(ms).toISOString().slice(0, 19)}.${(micros % 1_000_000n).toString().padStart(6, '0')}Z`;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pgUp = await postgresAvailable();
for (const kind of ['pglite', 'postgres'] as const) {
  describe.skipIf(kind === 'postgres' && !pgUp)(`time travel on ${kind}`, () => {
    let ledger: Ledger;
    let db: TestDatabase | undefined;
    beforeAll(async () => {
      db = kind === 'postgres' ? await createTestDatabase() : undefined;
      ledger = await createLedger({ store: db ? { kind: 'postgres', url: db.url, poolMax: 4 } : await pgliteTarget() });
    });
    afterAll(async () => {
      await ledger.close();
      await db?.drop();
    });

    it('answers the balance as it stood at any instant, exact to the microsecond', async () => {
      const post = (url: string, payload: object) => ledger.app.inject({ method: 'POST', url, payload });
      const balanceAt = async (at: string) => ledger.app.inject({ url: `/accounts/TT/balance?at=${encodeURIComponent(at)}` });
      const opened = (await post('/commands/create-account', { accountId: 'TT', owner: 'T', currency: 'JPY' })).json();
      await sleep(3);
      const first = (await post('/commands/deposit', { accountId: 'TT', amount: '100' })).json();
      await sleep(3);
      const second = (await post('/commands/withdraw', { accountId: 'TT', amount: '30' })).json();
      await sleep(3);
      const last = (await post('/commands/deposit', { accountId: 'TT', amount: '1' })).json();

      const t1 = toMicros(first.recordedAt);
      const t2 = toMicros(second.recordedAt);
      expect(t2).toBeGreaterThan(t1);
      expect(fromMicros(t2)).toBe(second.recordedAt);

      expect((await balanceAt(fromMicros(t1 - 1n))).json()).toMatchObject({ balance: '0', version: 1 });
      expect((await balanceAt(first.recordedAt)).json()).toMatchObject({ balance: '100', version: 2 });
      expect((await balanceAt(fromMicros(t2 - 1n))).json()).toMatchObject({ balance: '100', version: 2 });
      expect((await balanceAt(second.recordedAt)).json()).toMatchObject({ balance: '70', version: 3, at: second.recordedAt });
      // Any zone, same instant.
      const plusTwo = new Date(Number(t2 / 1000n) + 2 * 3600_000).toISOString().slice(0, 19) + `.${(t2 % 1_000_000n).toString().padStart(6, '0')}+02:00`;
      expect((await balanceAt(plusTwo)).json()).toMatchObject({ balance: '70' });
      // Now, from the read model, once it holds the last deposit (read-your-writes).
      expect((await ledger.app.inject({ url: `/accounts/TT/balance?minPosition=${last.globalPosition}` })).json())
        .toMatchObject({ balance: '71', version: 4, freshness: { status: 'reached' } });

      const before = await balanceAt(fromMicros(toMicros(opened.recordedAt) - 1n));
      expect(before.statusCode).toBe(404);
      expect(before.json().error.code).toBe('account_not_found');
    });
  });
}
