// Random traffic through a ledger's HTTP API, for tests that compare a downstream model with the store.
import { expect } from 'vitest';
import type { Ledger } from '../../src/ledger.js';

/** POSTs a command; a 5xx is a test failure, any other status is returned (422s are expected traffic). */
export async function postCommand(ledger: Ledger, url: string, payload: object): Promise<number> {
  const response = await ledger.app.inject({ method: 'POST', url, payload });
  if (response.statusCode >= 500) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  return response.statusCode;
}

/**
 * Opens `ids.length` EUR accounts with these ids, then runs `commands` random deposits, withdrawals (some
 * refused) and transfers among them from 4 concurrent writers.
 */
export async function randomCommands(ledger: Ledger, ids: readonly string[], commands: number): Promise<string[]> {
  const post = (url: string, payload: object) => postCommand(ledger, url, payload);
  for (const id of ids) expect(await post('/commands/create-account', { accountId: id, owner: `Owner ${id}`, currency: 'EUR' })).toBe(201);
  const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
  const amount = () => String(1 + Math.floor(Math.random() * 200));
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let i = 0; i < commands / 4; i += 1) {
      const r = Math.random();
      if (r < 0.4) await post('/commands/deposit', { accountId: pick(), amount: amount() });
      else if (r < 0.6) await post('/commands/withdraw', { accountId: pick(), amount: amount() });
      else {
        const from = pick();
        let to = pick();
        while (to === from) to = pick();
        await post('/commands/transfer', { fromAccountId: from, toAccountId: to, amount: amount() });
      }
    }
  }));
  return [...ids];
}
