// The OpenAPI document is one client generators accept, and the typed client made from it works:
// - /openapi.json passes Redocly's `recommended` ruleset (@redocly/openapi-core's lint, in process) with no
//   error and no warning, with access control on and off (the two documents differ: security, /keys);
// - client/openapi.json and client/schema.d.ts are what `npm run client` makes now (stale files fail);
// - the client (client/index.ts: openapi-fetch over the generated types) opens an account, deposits and
//   reads the balance from a real ledger (embedded store, listening on a free loopback port, with a key).
import { readFileSync } from 'node:fs';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerClient } from '../client/index.js';
import { DOCUMENT_FILE, generate, servedDocument, TYPES_FILE } from '../scripts/client.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import { pgliteTarget } from './support/stores.js';

async function lintProblems(document: string): Promise<string[]> {
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: document, absoluteRef: 'openapi.json', config });
  return problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`);
}

describe('/openapi.json under Redocly recommended', () => {
  for (const auth of [true, false]) {
    it(`0 errors and 0 warnings, access control ${auth ? 'on' : 'off'}`, async () => {
      const ledger = await createLedger({ store: await pgliteTarget(), logger: false, ...(auth ? { auth: { bootstrap: false } } : {}) });
      try {
        const response = await ledger.app.inject('/openapi.json');
        expect(response.statusCode).toBe(200);
        expect(await lintProblems(response.body)).toEqual([]);
        // Operation ids are what generated clients name their methods after: each one once.
        const ids = Object.values(response.json().paths as Record<string, Record<string, { operationId?: string }>>)
          .flatMap((item) => Object.values(item).map((operation) => operation.operationId));
        expect(ids.length).toBeGreaterThan(25);
        expect(new Set(ids).size).toBe(ids.length);
      } finally {
        await ledger.close();
      }
    });
  }
});

describe('the typed client', () => {
  it('client/openapi.json and client/schema.d.ts equal a fresh `npm run client`', async () => {
    const { documentText, typesText } = await generate(await servedDocument(await pgliteTarget()));
    // toBe on the whole text: the diff vitest prints shows what changed. Fix: npm run client.
    expect(readFileSync(DOCUMENT_FILE, 'utf8'), 'client/openapi.json is stale: run npm run client').toBe(documentText);
    expect(readFileSync(TYPES_FILE, 'utf8'), 'client/schema.d.ts is stale: run npm run client').toBe(typesText);
  });

  describe('against a listening ledger with access control', () => {
    let ledger: Ledger;
    let base = '';
    let adminKey = '';
    beforeAll(async () => {
      ledger = await createLedger({ store: await pgliteTarget(), logger: false, auth: { onKeyGenerated: (key) => { adminKey = key; } } });
      await ledger.app.listen({ port: 0, host: '127.0.0.1' });
      const address = ledger.app.server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      base = `http://127.0.0.1:${address.port}`;
    });
    afterAll(async () => { await ledger.close(); });

    it('opens an account, deposits, reads the balance; a refusal comes back as the typed error', async () => {
      expect(adminKey).toMatch(/^chr_/);
      const api = createLedgerClient(base, { apiKey: adminKey });

      const opened = await api.POST('/commands/create-account', { body: { accountId: 'CLIENT-1', owner: 'Ada Lovelace', currency: 'EUR' } });
      expect(opened.response.status, JSON.stringify(opened.error)).toBe(201);

      const deposit = await api.POST('/commands/deposit', {
        body: { accountId: 'CLIENT-1', amount: '1250' },
        params: { header: { 'idempotency-key': 'client-test-deposit-1' } },
      });
      expect(deposit.response.status, JSON.stringify(deposit.error)).toBe(201);
      const position = deposit.data?.globalPosition;
      expect(position).toBeTypeOf('number');

      // Read your write: the read model waits until it holds the deposit.
      const balance = await api.GET('/accounts/{id}/balance', { params: { path: { id: 'CLIENT-1' }, query: { minPosition: String(position) } } });
      expect(balance.response.status, JSON.stringify(balance.error)).toBe(200);
      expect(balance.data).toMatchObject({ accountId: 'CLIENT-1', currency: 'EUR', balance: '1250', version: 2 });

      const overdraw = await api.POST('/commands/withdraw', { body: { accountId: 'CLIENT-1', amount: '5000' } });
      expect(overdraw.response.status).toBe(422);
      expect(overdraw.error?.error.code).toBe('insufficient_funds');

      const anonymous = await createLedgerClient(base).GET('/accounts/{id}/balance', { params: { path: { id: 'CLIENT-1' } } });
      expect(anonymous.response.status).toBe(401);
    });
  });
});
