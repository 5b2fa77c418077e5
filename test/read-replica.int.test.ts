// Balances and the account list served from a streaming replica of the read store (READ_REPLICA_URL), on a
// private primary and hot standby (never the shared server):
// - with the replica caught up, ?minPosition answers `reached` with the right balance;
// - with the replica's replay paused (the primary's read model already holds the new balance: the positive
//   control), the same query answers `stale` with the replica's older balance and position, never the new
//   balance marked reached, and the list says the same; resumed, it answers `reached` with the new balance;
// - /health names the replica and says it is in recovery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createLedger, type Ledger } from '../src/ledger.js';
import {
  freePostgresPort, privatePostgresAvailable, startPrivatePostgres, startPrivateStandby, type PrivatePostgres, type PrivateStandby,
} from './support/private-postgres.js';

const available = privatePostgresAvailable();

describe.skipIf(!available)('query-api on a read replica (READ_REPLICA_URL)', () => {
  let primary: PrivatePostgres;
  let standby: PrivateStandby;
  let ledger: Ledger;
  beforeAll(async () => {
    primary = await startPrivatePostgres(await freePostgresPort());
    standby = await startPrivateStandby(primary, await freePostgresPort());
    ledger = await createLedger({
      store: { kind: 'postgres', url: primary.url(), poolMax: 4 },
      readReplica: { kind: 'postgres', url: standby.url(), poolMax: 4 },
      processMetrics: false, readWaitMaxMs: 5_000, lagIntervalMs: 50,
    });
  }, 120_000);
  afterAll(async () => {
    await ledger?.close();
    standby?.destroy();
    primary?.destroy();
  });

  const command = async (url: string, payload: object) => {
    const response = await ledger.app.inject({ method: 'POST', url, payload });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { globalPosition: number };
  };
  const get = (url: string) => ledger.app.inject({ url });
  /** The balance the primary's read model holds (what a query would answer without the replica). */
  const primaryBalance = async (accountId: string) => {
    const client = new pg.Client({ connectionString: primary.url() });
    await client.connect();
    try {
      return (await client.query('SELECT balance::text AS balance FROM account_balance WHERE account_id = $1', [accountId])).rows[0]?.balance as string | undefined;
    } finally {
      await client.end();
    }
  };

  it('a caught-up replica answers reached; a paused one answers stale with its own older state, never the new balance', async () => {
    await command('/commands/create-account', { accountId: 'RR1', owner: 'Replica', currency: 'EUR' });
    const first = await command('/commands/deposit', { accountId: 'RR1', amount: '100' });
    const caughtUp = await get(`/accounts/RR1/balance?minPosition=${first.globalPosition}`);
    expect(caughtUp.statusCode).toBe(200);
    expect(caughtUp.json()).toMatchObject({ balance: '100', freshness: { status: 'reached', minPosition: first.globalPosition } });

    await standby.pauseReplay();
    try {
      const second = await command('/commands/deposit', { accountId: 'RR1', amount: '23' });
      // The primary's read model has it (the in-process processor applied it): only the replica is behind.
      await expect.poll(() => primaryBalance('RR1'), { timeout: 5_000 }).toBe('123');
      const stale = await get(`/accounts/RR1/balance?minPosition=${second.globalPosition}&maxWaitMs=300`);
      expect(stale.statusCode).toBe(200);
      expect(stale.headers['chronicle-freshness']).toBe('stale');
      expect(stale.json()).toMatchObject({ balance: '100', freshness: { status: 'stale', minPosition: second.globalPosition } });
      expect(stale.json().freshness.position).toBeLessThan(second.globalPosition);
      const list = (await get(`/accounts?minPosition=${second.globalPosition}&maxWaitMs=300&q=RR1`)).json();
      expect(list.freshness.status).toBe('stale');
      expect(list.accounts).toEqual([expect.objectContaining({ accountId: 'RR1', balance: '100' })]);
      // Without minPosition the replica's view is served as it is, eventual.
      expect((await get('/accounts/RR1/balance')).json()).toMatchObject({ balance: '100', freshness: { status: 'eventual' } });

      // A waiting query is answered once the replica replays, within its bound.
      const waiting = get(`/accounts/RR1/balance?minPosition=${second.globalPosition}&maxWaitMs=5000`);
      await new Promise((r) => setTimeout(r, 200));
      await standby.resumeReplay();
      const fresh = await waiting;
      expect(fresh.json()).toMatchObject({ balance: '123', freshness: { status: 'reached', minPosition: second.globalPosition } });
    } finally {
      await standby.resumeReplay().catch(() => {});
    }
  });

  it('/health reports the read replica, in recovery', async () => {
    const health = (await get('/health')).json();
    expect(health.components.readReplica).toMatchObject({ status: 'up', kind: 'postgres', inRecovery: true });
  });
});
