// Hostile input, generated: whatever JSON (or not-JSON) arrives at a command or the raw append, the answer
// is the one error shape with a 4xx status (or a 201 for the rare valid body), never a 500, and a refused
// request has written nothing.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';

let ledger: Ledger;
beforeAll(async () => {
  ledger = await createLedger({ store: { kind: 'pglite' } });
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

describe('hostile bodies', () => {
  it('never answer 500, always the error shape, and leave nothing behind when refused', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ROUTES), BODY, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
      async (url, payload, contentType) => {
        const before = (await ledger.store.readAll(0, 10_000))!.events.length;
        const response = await ledger.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
        expect(response.statusCode, `${url} ${payload}`).toBeLessThan(500);
        if (response.statusCode >= 400) {
          const body = response.json();
          expect(Object.keys(body)).toEqual(['error']);
          expect(typeof body.error.code).toBe('string');
          expect((await ledger.store.readAll(0, 10_000))!.events.length).toBe(before);
        }
      }), { numRuns: 300 });
    // And the money is where it was, whatever the fuzzer managed to get accepted (deposits only add).
    const balance = BigInt((await ledger.queries.balance('F1'))!.balance);
    expect(balance >= 0n).toBe(true);
  }, 120_000);
});
