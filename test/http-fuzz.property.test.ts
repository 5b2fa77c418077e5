// Hostile input, generated: whatever JSON (or not-JSON) arrives at a command or the raw append, the answer
// is the one error shape with a 4xx status (or a 201 for the rare valid body), never a 500, and a refused
// request has written nothing. The rare command the fuzzer gets accepted is played on a model of the
// balances (sums of amounts), and every account's balance must equal the model's at the end. Seeded:
// fast-check prints the seed of a failure, and TEST_SEED=<seed> replays it (test/support/seed-setup.ts).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';
import { pgliteTarget } from './support/stores.js';

let ledger: Ledger;
beforeAll(async () => {
  ledger = await createLedger({ store: await pgliteTarget() });
  await ledger.app.inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: 'F1', owner: 'Fuzz', currency: 'EUR' } });
  await ledger.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: 'F1', amount: '1000' } });
});
afterAll(async () => {
  await ledger.close();
});

const ROUTES = ['/commands/create-account', '/commands/deposit', '/commands/withdraw', '/commands/transfer', '/streams/fuzz-1/events'];
const FIELD = fc.constantFrom('accountId', 'owner', 'currency', 'amount', 'fromAccountId', 'toAccountId', 'type', 'data');
const VALUE = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom('F1', 'EUR', '1', '-1', '1e3', '0', '9223372036854775808', '\u0000', 'account-F1'),
  fc.integer(), fc.double(),
);
const BODY = fc.oneof(
  fc.dictionary(FIELD, VALUE).map((o) => JSON.stringify(o)),
  fc.array(fc.dictionary(FIELD, VALUE)).map((a) => JSON.stringify(a)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.constantFrom('{"amount": 1e999}', '{"amount": -0}', '{"accountId": "F1", "amount": 00012}', '[', '{"a":'),
);

/** Balances by account as the accepted commands must have left them, from the amounts alone. */
const model = new Map<string, bigint>([['F1', 1_000n]]);

/** Plays an accepted (201) command on the model. */
function play(url: string, payload: string): void {
  if (!url.startsWith('/commands/')) return; // a raw append moves no account
  const c = JSON.parse(payload) as Record<string, string | number>;
  const add = (id: string | number | undefined, delta: bigint) => model.set(String(id), (model.get(String(id)) ?? 0n) + delta);
  const amount = () => BigInt(c['amount']!);
  if (url === '/commands/create-account') model.set(String(c['accountId']), 0n);
  else if (url === '/commands/deposit') add(c['accountId'], amount());
  else if (url === '/commands/withdraw') add(c['accountId'], -amount());
  else if (url === '/commands/transfer') {
    add(c['fromAccountId'], -amount());
    add(c['toAccountId'], amount());
  }
}

describe('hostile bodies', () => {
  it('never answer 500, always the error shape, leave nothing behind when refused, and accepted ones move exactly their amounts', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ROUTES), BODY, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
      async (url, payload, contentType) => {
        const before = (await ledger.store.readAll(0, 10_000))!.events.length;
        const response = await ledger.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
        expect(response.statusCode, `${url} ${payload}`).toBeLessThan(500);
        if (response.statusCode === 201) play(url, payload);
        if (response.statusCode >= 400) {
          const body = response.json();
          expect(Object.keys(body)).toEqual(['error']);
          expect(typeof body.error.code).toBe('string');
          expect((await ledger.store.readAll(0, 10_000))!.events.length).toBe(before);
        }
      }), { numRuns: 300 });
    // A positive control: a command known to be accepted, played on the model the same way.
    const control = JSON.stringify({ accountId: 'F1', amount: '7' });
    const accepted = await ledger.app.inject({ method: 'POST', url: '/commands/deposit', headers: { 'content-type': 'application/json' }, payload: control });
    expect(accepted.statusCode).toBe(201);
    play('/commands/deposit', control);
    // Every account the model knows holds exactly the model's balance, and none is negative.
    for (const [accountId, expected] of model) {
      const stored = await ledger.queries.balance(accountId);
      expect(stored?.balance, accountId).toBe(expected.toString());
      expect(expected >= 0n, accountId).toBe(true);
    }
  }, 120_000);
});
