// No overdraft under concurrency, against PostgreSQL with real connection pools. Within one process,
// commands on an account are serialised (no conflicts at all); between processes, the expected-version
// check catches the race and the loser retries on fresh state. Two ledgers with their own pools and caches
// on one database stand in for two API processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

const post = (ledger: Ledger, path: string, payload: unknown) =>
  ledger.app.inject({ method: 'POST', url: path, payload: payload as Record<string, unknown> });

async function openAccount(ledger: Ledger, accountId: string, deposit: string, currency = 'EUR') {
  expect((await post(ledger, '/commands/create-account', { accountId, owner: 'Test', currency })).statusCode).toBe(201);
  expect((await post(ledger, '/commands/deposit', { accountId, amount: deposit })).statusCode).toBe(201);
}

const statusCounts = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

describe.skipIf(!(await postgresAvailable()))('concurrent commands on PostgreSQL', () => {
  let db: TestDatabase;
  let a: Ledger;
  let b: Ledger;

  beforeAll(async () => {
    db = await createTestDatabase();
    a = await createLedger({ store: { kind: 'postgres', url: db.url, poolMax: 16 }, roles: ['ledger-api'] });
    b = await createLedger({ store: { kind: 'postgres', url: db.url, poolMax: 16 }, roles: ['ledger-api'] });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('100 parallel withdrawals of 10 from 500: exactly 50 succeed, 50 are insufficient_funds, balance 0', async () => {
    await openAccount(a, 'W1', '500');
    const responses = await Promise.all(Array.from({ length: 100 }, () => post(a, '/commands/withdraw', { accountId: 'W1', amount: 10 })));
    expect(statusCounts(responses.map((r) => r.statusCode))).toEqual({ 201: 50, 422: 50 });
    for (const r of responses.filter((r) => r.statusCode === 422)) expect(r.json().error.code).toBe('insufficient_funds');
    const balance = (await a.queries.balance('W1'))!;
    expect(balance).toMatchObject({ balance: '0', version: 52 });
    // Every accepted withdrawal left a distinct, non-negative balance behind it: 490, 480, ..., 0.
    const after = responses.filter((r) => r.statusCode === 201).map((r) => BigInt(r.json().balances.W1)).sort((x, y) => (x < y ? -1 : 1));
    expect(after).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i * 10)));
  });

  it('the same through two processes racing on one account: still exactly 50 and 50, no conflict surfaces', async () => {
    await openAccount(a, 'W2', '500');
    await b.queries.balance('W2'); // b caches nothing it did not write; reads go to the store
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => post(i % 2 ? a : b, '/commands/withdraw', { accountId: 'W2', amount: '10' })));
    expect(statusCounts(responses.map((r) => r.statusCode))).toEqual({ 201: 50, 422: 50 });
    expect((await b.queries.balance('W2'))!).toMatchObject({ balance: '0', version: 52 });
  });

  it('opposite transfers between two accounts from two processes conserve money and never deadlock', async () => {
    await openAccount(a, 'T1', '1000');
    await openAccount(a, 'T2', '1000');
    const responses = await Promise.all(Array.from({ length: 120 }, (_, i) => post(i % 3 ? a : b, '/commands/transfer',
      i % 2 ? { fromAccountId: 'T1', toAccountId: 'T2', amount: '7' } : { fromAccountId: 'T2', toAccountId: 'T1', amount: '11' })));
    const counts = statusCounts(responses.map((r) => r.statusCode));
    expect((counts[201] ?? 0) + (counts[422] ?? 0)).toBe(120);
    const t1 = BigInt((await a.queries.balance('T1'))!.balance);
    const t2 = BigInt((await a.queries.balance('T2'))!.balance);
    expect(t1 + t2).toBe(2000n);
    expect(t1 >= 0n && t2 >= 0n).toBe(true);
    // Replaying the history gives the same balances: every accepted transfer is in both streams.
    const history = (await a.queries.history('T1', 1, 1000))!;
    const replayed = history.entries.reduce((sum: bigint, e) =>
      e.type === 'TransferSent' || e.type === 'MoneyWithdrawn' ? sum - BigInt(e.amount!) : e.amount ? sum + BigInt(e.amount) : sum, 0n);
    expect(replayed).toBe(t1);
  });

  it('idempotency keys hold under a race: ten concurrent identical deposits through two processes append once', async () => {
    await openAccount(a, 'I1', '0'.replace('0', '1'));
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).app.inject({
      method: 'POST', url: '/commands/deposit', headers: { 'idempotency-key': 'race-key-1' }, payload: { accountId: 'I1', amount: '100' },
    })));
    expect(responses.map((r) => r.statusCode)).toEqual(Array(10).fill(201));
    expect(new Set(responses.map((r) => r.json().commandId)).size).toBe(1);
    expect((await a.queries.balance('I1'))!).toMatchObject({ balance: '101', version: 3 });
  });
});
