// Random traffic through a ledger's HTTP API, for tests that compare a downstream model with the store.
// Seeded (seeded-random.ts): TEST_SEED replays each writer's commands.
import { expect } from 'vitest';
import type { Ledger } from '../../src/ledger.js';
import { testRandom, type SeededRandom } from './seeded-random.js';

/** POSTs a command; a 5xx is a test failure, any other status is returned (422s are expected traffic). */
export async function postCommand(ledger: Ledger, url: string, payload: object): Promise<number> {
  const response = await ledger.app.inject({ method: 'POST', url, payload });
  if (response.statusCode >= 500) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  return response.statusCode;
}

/**
 * Opens `ids.length` EUR accounts with these ids, then runs `commands` random deposits, withdrawals (some
 * refused) and transfers among them from 4 concurrent writers, each with a generator forked from `random`.
 */
export async function randomCommands(ledger: Ledger, ids: readonly string[], commands: number, random: SeededRandom = testRandom()): Promise<string[]> {
  const post = (url: string, payload: object) => postCommand(ledger, url, payload);
  for (const id of ids) expect(await post('/commands/create-account', { accountId: id, owner: `Owner ${id}`, currency: 'EUR' })).toBe(201);
  const writers = Array.from({ length: 4 }, () => random.fork());
  await Promise.all(writers.map(async (writer) => {
    const pick = () => writer.pick(ids);
    const amount = () => String(writer.int(1, 200));
    for (let i = 0; i < commands / 4; i += 1) {
      const r = writer.next();
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
