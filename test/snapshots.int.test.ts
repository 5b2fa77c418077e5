// Snapshots change how state is loaded, never what it is: the same account loaded with snapshots (latest
// snapshot + the events after it) and without (every event) is identical; and the snapshot really is read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregateRepository } from '../src/application/aggregate-repository.js';
import { accountAggregate } from '../src/domain/account/aggregate.js';
import { createLedger, type Ledger } from '../src/ledger.js';

describe('snapshots', () => {
  let ledger: Ledger;
  beforeAll(async () => {
    ledger = await createLedger({ store: { kind: 'pglite' }, snapshotEvery: 5 });
  });
  afterAll(async () => {
    await ledger.close();
  });

  it('are taken every N events and give the same state as a full replay', async () => {
    const post = (url: string, payload: object) => ledger.app.inject({ method: 'POST', url, payload });
    await post('/commands/create-account', { accountId: 'S1', owner: 'S', currency: 'EUR' });
    await post('/commands/create-account', { accountId: 'S2', owner: 'S', currency: 'EUR' });
    for (let i = 1; i <= 11; i++) {
      await post('/commands/deposit', { accountId: 'S1', amount: String(i * 7) });
      if (i % 3 === 0) await post('/commands/transfer', { fromAccountId: 'S1', toAccountId: 'S2', amount: '5' });
      if (i % 4 === 0) await post('/commands/withdraw', { accountId: 'S1', amount: '3' });
    }
    const version = (await ledger.store.readStream('account-S1', { count: 1, direction: 'backward' })).version;
    expect(version).toBe(1 + 11 + 3 + 2);
    const snapshot = await ledger.store.loadSnapshot('account-S1', 1);
    expect(snapshot?.version).toBe(15);

    const withSnapshots = new AggregateRepository(ledger.store, { snapshotEvery: 5, cacheEntriesMax: 0, readPageSize: 4 });
    const withoutSnapshots = new AggregateRepository(ledger.store, { snapshotEvery: 0, cacheEntriesMax: 0, readPageSize: 4 });
    const a = await withSnapshots.load(accountAggregate, 'account-S1');
    const b = await withoutSnapshots.load(accountAggregate, 'account-S1');
    expect(a).toEqual(b);
    expect(a).toMatchObject({ version: 17, state: { status: 'open', balance: 7n * 66n - 15n - 6n } });

    // Proof the snapshot path is taken: a planted snapshot at a later version wins over replaying events.
    await ledger.store.saveSnapshot({ streamId: 'account-S1', version: 17, schemaVersion: 1,
      state: { status: 'open', accountId: 'S1', owner: 'S', currency: 'EUR', balance: '424242' } });
    expect((await withSnapshots.load(accountAggregate, 'account-S1')).state).toMatchObject({ balance: 424242n });
    expect((await withoutSnapshots.load(accountAggregate, 'account-S1')).state).toEqual(b.state);
  });
});
