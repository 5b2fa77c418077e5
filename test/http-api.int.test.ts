// The HTTP API through inject(), on the embedded store (in-memory PGlite): every command, every query,
// the event-store API, and the one error shape for every kind of bad input, with proof nothing was written.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';

let ledger: Ledger;
beforeAll(async () => {
  ledger = await createLedger({ store: { kind: 'pglite' }, corsOrigins: ['http://localhost:3000'] });
});
afterAll(async () => {
  await ledger.close();
});

/** The highest global position a command of this file wrote: what a read waits for to see every write. */
let lastPosition = 0;
const post = async (url: string, payload: unknown, headers: Record<string, string> = {}) => {
  const response = await ledger.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });
  if (response.statusCode === 201) lastPosition = Math.max(lastPosition, response.json<{ globalPosition: number }>().globalPosition);
  return response;
};
const get = (url: string) => ledger.app.inject({ method: 'GET', url });
/** A read-model query that reads this file's writes (read-your-writes). */
const getFresh = (url: string) => get(`${url}${url.includes('?') ? '&' : '?'}minPosition=${lastPosition}`);
const eventCount = async () => (await ledger.store.readAll(0, 1_000))!.events.length;

async function open(accountId: string, currency = 'EUR', deposit?: string) {
  expect((await post('/commands/create-account', { accountId, owner: 'Ada Lovelace', currency })).statusCode).toBe(201);
  if (deposit) expect((await post('/commands/deposit', { accountId, amount: deposit })).statusCode).toBe(201);
}

describe('commands', () => {
  it('create, deposit, withdraw, transfer: 201 with event ids, stream versions, global position and balances', async () => {
    const created = await post('/commands/create-account', { accountId: 'H1', owner: 'Ada', currency: 'EUR' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ commandType: 'CreateAccount', streams: [{ streamId: 'account-H1', version: 1 }], balances: { H1: '0' } });
    const deposit = (await post('/commands/deposit', { accountId: 'H1', amount: '9223372036854775000' })).json();
    expect(deposit).toMatchObject({ streams: [{ streamId: 'account-H1', version: 2 }], balances: { H1: '9223372036854775000' } });
    expect(deposit.globalPosition).toBeGreaterThan(created.json().globalPosition);
    expect(deposit.eventIds).toHaveLength(1);
    const withdraw = (await post('/commands/withdraw', { accountId: 'H1', amount: 1000 })).json();
    expect(withdraw.balances).toEqual({ H1: '9223372036854774000' });
    await open('H2');
    const transfer = await post('/commands/transfer', { fromAccountId: 'H1', toAccountId: 'H2', amount: '4000' });
    expect(transfer.statusCode).toBe(201);
    expect(transfer.json()).toMatchObject({
      commandType: 'Transfer',
      streams: [{ streamId: 'account-H1', version: 4 }, { streamId: 'account-H2', version: 2 }],
      balances: { H1: '9223372036854770000', H2: '4000' },
    });
    expect(transfer.json().eventIds).toHaveLength(2);
    expect((await getFresh('/accounts/H2/balance')).json()).toMatchObject({ accountId: 'H2', balance: '4000', currency: 'EUR', owner: 'Ada Lovelace', version: 2 });
  });

  it('carries the correlation id from the request into the events and the response', async () => {
    await open('C1');
    const response = await post('/commands/deposit', { accountId: 'C1', amount: '5' }, { 'x-correlation-id': 'trace-123' });
    expect(response.headers['x-correlation-id']).toBe('trace-123');
    const [last] = (await ledger.store.readStream('account-C1', { count: 1, direction: 'backward' })).events;
    expect(last!.metadata).toMatchObject({ correlationId: 'trace-123', causationId: response.json().commandId, commandType: 'Deposit', clientAddress: '127.0.0.1' });
  });
});

describe('bad input: the right status, its own code, one shape, nothing written', () => {
  const cases: [string, string, unknown, number, string][] = [
    ['zero amount', '/commands/deposit', { accountId: 'B1', amount: 0 }, 400, 'amount_zero'],
    ['zero as string', '/commands/deposit', { accountId: 'B1', amount: '0' }, 400, 'amount_zero'],
    ['negative', '/commands/deposit', { accountId: 'B1', amount: -5 }, 400, 'amount_negative'],
    ['negative string', '/commands/withdraw', { accountId: 'B1', amount: '-5' }, 400, 'amount_negative'],
    ['fractional', '/commands/deposit', '{"accountId":"B1","amount":10.5}', 400, 'amount_fractional'],
    ['fractional .0', '/commands/deposit', '{"accountId":"B1","amount":10.0}', 400, 'amount_fractional'],
    ['fractional string', '/commands/deposit', { accountId: 'B1', amount: '10.50' }, 400, 'amount_fractional'],
    ['exponent', '/commands/deposit', '{"accountId":"B1","amount":1e3}', 400, 'amount_exponent'],
    ['exponent string', '/commands/deposit', { accountId: 'B1', amount: '1E3' }, 400, 'amount_exponent'],
    ['over 2^63-1', '/commands/deposit', { accountId: 'B1', amount: '9223372036854775808' }, 400, 'amount_too_large'],
    ['huge number literal', '/commands/deposit', '{"accountId":"B1","amount":99999999999999999999999}', 400, 'amount_too_large'],
    ['unsafe number literal', '/commands/deposit', '{"accountId":"B1","amount":9007199254740993}', 400, 'amount_unsafe_integer'],
    ['amount not a number', '/commands/deposit', { accountId: 'B1', amount: 'ten' }, 400, 'amount_invalid'],
    ['amount boolean', '/commands/deposit', { accountId: 'B1', amount: true }, 400, 'amount_invalid'],
    // The marker starts with U+0000, so a forgery is refused by name before the amount is even parsed.
    ['forged raw-number marker', '/commands/deposit', { accountId: 'B1', amount: '\u0000#rawnum:abc' }, 400, 'nul_character'],
    ['unknown currency', '/commands/create-account', { accountId: 'B9', owner: 'x', currency: 'XYZ' }, 400, 'currency_invalid'],
    ['lower-case currency', '/commands/create-account', { accountId: 'B9', owner: 'x', currency: 'eur' }, 400, 'currency_invalid'],
    ['same-account transfer', '/commands/transfer', { fromAccountId: 'B1', toAccountId: 'B1', amount: '1' }, 422, 'accounts_must_be_different'],
    ['currency mismatch', '/commands/transfer', { fromAccountId: 'B1', toAccountId: 'B2', amount: '1' }, 422, 'currency_mismatch'],
    ['insufficient funds', '/commands/withdraw', { accountId: 'B1', amount: '101' }, 422, 'insufficient_funds'],
    ['insufficient for transfer', '/commands/transfer', { fromAccountId: 'B1', toAccountId: 'B3', amount: '101' }, 422, 'insufficient_funds'],
    ['unknown account', '/commands/deposit', { accountId: 'NOPE', amount: '1' }, 404, 'account_not_found'],
    ['unknown transfer target', '/commands/transfer', { fromAccountId: 'B1', toAccountId: 'NOPE', amount: '1' }, 404, 'account_not_found'],
    ['duplicate account', '/commands/create-account', { accountId: 'B1', owner: 'x', currency: 'EUR' }, 409, 'account_already_exists'],
    ['missing field', '/commands/deposit', { accountId: 'B1' }, 400, 'validation_failed'],
    ['unknown field', '/commands/deposit', { accountId: 'B1', amount: '1', ammount: '1' }, 400, 'validation_failed'],
    ['account id as number', '/commands/deposit', { accountId: 12, amount: '1' }, 400, 'validation_failed'],
    ['account id with a space', '/commands/deposit', { accountId: 'B 1', amount: '1' }, 400, 'validation_failed'],
    ['owner with control characters', '/commands/create-account', { accountId: 'B9', owner: 'a\u0001b', currency: 'EUR' }, 400, 'validation_failed'],
    ['owner with U+0000', '/commands/create-account', { accountId: 'B9', owner: 'a\u0000b', currency: 'EUR' }, 400, 'nul_character'],
    ['body is an array', '/commands/deposit', [], 400, 'validation_failed'],
    ['malformed JSON', '/commands/deposit', '{"accountId": "B1", "amount": ', 400, 'malformed_json'],
    ['empty body', '/commands/deposit', '', 400, 'malformed_json'],
  ];

  beforeAll(async () => {
    await open('B1', 'EUR', '100');
    await open('B2', 'USD');
    await open('B3', 'EUR');
  });

  it.each(cases)('%s → %i %s', async (_name, url, payload, status, code) => {
    const before = await eventCount();
    const response = await post(url, payload);
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/application\/json/);
    const body = response.json();
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    expect(await eventCount()).toBe(before);
  });

  it('415 for a body that is not JSON, 404 JSON for an unknown route, and balances untouched', async () => {
    const text = await ledger.app.inject({ method: 'POST', url: '/commands/deposit', headers: { 'content-type': 'text/plain' }, payload: 'amount=1' });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('unsupported_media_type');
    const missing = await get('/nowhere');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('route_not_found');
    expect((await getFresh('/accounts/B1/balance')).json().balance).toBe('100');
  });

  it('bad query parameters are 400, not 500', async () => {
    for (const url of ['/accounts/B1/balance?at=yesterday', '/accounts/B1/balance?at=2026-01-01T00:00:00', '/accounts/B1/balance?at=2026-01-01T00:00:00.1234567Z',
      '/accounts/B1/history?limit=0', '/accounts/B1/history?limit=x', '/accounts?limit=100000', '/streams/$all?from=-1', '/streams/B1?direction=sideways']) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(400);
      expect(['validation_failed', 'instant_invalid']).toContain(response.json().error.code);
    }
  });
});

describe('idempotency keys', () => {
  it('the same key and body answer with the first response and append nothing; another body is refused', async () => {
    await open('K1');
    const headers = { 'idempotency-key': `key-${randomUUID()}` };
    const first = await post('/commands/deposit', { accountId: 'K1', amount: '50' }, headers);
    const before = await eventCount();
    const again = await post('/commands/deposit', { accountId: 'K1', amount: 50 }, headers); // same amount, other JSON form
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json()).toEqual(first.json());
    expect(await eventCount()).toBe(before);
    const other = await post('/commands/deposit', { accountId: 'K1', amount: '51' }, headers);
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('idempotency_key_reused');
    const otherCommand = await post('/commands/withdraw', { accountId: 'K1', amount: '50' }, headers);
    expect(otherCommand.json().error.code).toBe('idempotency_key_reused');
    expect((await getFresh('/accounts/K1/balance')).json().balance).toBe('50');
  });

  it('a rejected command does not consume its key: fixed, the retry is evaluated afresh', async () => {
    await open('K2');
    const headers = { 'idempotency-key': `key-${randomUUID()}` };
    expect((await post('/commands/withdraw', { accountId: 'K2', amount: '5' }, headers)).statusCode).toBe(422);
    await post('/commands/deposit', { accountId: 'K2', amount: '5' });
    expect((await post('/commands/withdraw', { accountId: 'K2', amount: '5' }, headers)).statusCode).toBe(201);
  });
});

describe('queries', () => {
  it('history is paginated by version and says where to continue', async () => {
    await open('Q1');
    for (let i = 1; i <= 5; i++) await post('/commands/deposit', { accountId: 'Q1', amount: String(i) });
    const page1 = (await get('/accounts/Q1/history?limit=4')).json();
    expect(page1.entries.map((e: { type: string }) => e.type)).toEqual(['AccountCreated', 'MoneyDeposited', 'MoneyDeposited', 'MoneyDeposited']);
    expect(page1.entries[3]).toMatchObject({ version: 4, amount: '3', balanceAfter: '6' });
    expect(page1.nextFromVersion).toBe(5);
    const page2 = (await get('/accounts/Q1/history?limit=4&fromVersion=5')).json();
    expect(page2.entries.map((e: { balanceAfter: string }) => e.balanceAfter)).toEqual(['10', '15']);
    expect(page2.nextFromVersion).toBeNull();
    expect((await get('/accounts/NOPE/history')).statusCode).toBe(404);
    expect((await getFresh('/accounts/NOPE/balance')).json().error.code).toBe('account_not_found');
  });

  it('lists accounts in id order with a cursor', async () => {
    const all = (await getFresh('/accounts?limit=1000')).json().accounts.map((a: { accountId: string }) => a.accountId);
    expect(all).toEqual([...all].sort());
    const first = (await get('/accounts?limit=2')).json();
    expect(first.accounts).toHaveLength(2);
    const next = (await get(`/accounts?limit=2&after=${first.nextAfter}`)).json();
    expect(next.accounts.map((a: { accountId: string }) => a.accountId)).toEqual(all.slice(2, 4));
  });

  it('searches accounts by id or owner, any case, with LIKE metacharacters taken literally, paginated', async () => {
    for (const [accountId, owner] of [['Srch-1', 'Grace Hopper'], ['Srch-2', 'grace_kelly'], ['Srch-3', '100% Ada'], ['Other-9', 'Srch fan']]) {
      expect((await post('/commands/create-account', { accountId, owner, currency: 'EUR' })).statusCode).toBe(201);
    }
    const ids = async (q: string, extra = '') => (await getFresh(`/accounts?q=${encodeURIComponent(q)}${extra}`)).json().accounts.map((a: { accountId: string }) => a.accountId);
    expect(await ids('srch')).toEqual(['Other-9', 'Srch-1', 'Srch-2', 'Srch-3']); // owner "Srch fan" matches too
    expect(await ids('GRACE')).toEqual(['Srch-1', 'Srch-2']);
    expect(await ids('e_k')).toEqual(['Srch-2']); // "_" is not a wildcard: only grace_kelly has it
    expect(await ids('0%')).toEqual(['Srch-3']); // nor is "%"
    expect(await ids('%')).toEqual(['Srch-3']);
    expect(await ids('nobody at all')).toEqual([]);
    const page = (await getFresh('/accounts?q=srch&limit=2')).json();
    expect(page.nextAfter).toBe('Srch-1');
    expect(await ids('srch', `&after=${page.nextAfter}`)).toEqual(['Srch-2', 'Srch-3']);
    expect((await get(`/accounts?q=${'x'.repeat(201)}`)).json().error.code).toBe('validation_failed');
    expect((await get('/accounts?q=%01')).json().error.code).toBe('validation_failed');
  });
});

describe('event store API', () => {
  it('appends with Expected-Version, answers a mismatch with 409 and the actual version', async () => {
    const url = '/streams/order-1/events';
    const e = [{ type: 'OrderPlaced', data: { total: '10' } }];
    expect((await post(url, e, { 'expected-version': 'no-stream' })).statusCode).toBe(201);
    expect((await post(url, e, { 'expected-version': '1' })).json()).toMatchObject({ streamId: 'order-1', version: 2 });
    const conflict = await post(url, e, { 'expected-version': '1' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error).toMatchObject({ code: 'version_conflict', details: { streamId: 'order-1', actualVersion: 2 } });
    expect((await post(url, e, { 'expected-version': 'no-stream' })).statusCode).toBe(409);
    expect((await post('/streams/order-2/events', e, { 'expected-version': 'stream-exists' })).statusCode).toBe(409);
    expect((await post(url, e, { 'expected-version': 'soon' })).statusCode).toBe(400);
    expect((await post(url, e)).statusCode).toBe(201); // any
  });

  it('a retried append with the same event ids answers with the original result', async () => {
    const events = [{ eventId: randomUUID(), type: 'Noted', data: {} }, { eventId: randomUUID(), type: 'Noted', data: {} }];
    const first = await post('/streams/notes-1/events', events, { 'expected-version': 'no-stream' });
    const again = await post('/streams/notes-1/events', events, { 'expected-version': 'no-stream' });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toMatchObject({ ...first.json(), replayed: true });
    expect((await get('/streams/notes-1')).json().version).toBe(2);
  });

  it('reads a stream forward and backward, and $all from a position', async () => {
    for (let n = 1; n <= 5; n++) await post('/streams/count-1/events', [{ type: 'Counted', data: { n } }]);
    const forward = (await get('/streams/count-1?from=2&count=2')).json();
    expect(forward.events.map((e: { data: { n: number } }) => e.data.n)).toEqual([2, 3]);
    expect(forward.next).toBe(4);
    const backward = (await get('/streams/count-1?direction=backward&count=2')).json();
    expect(backward.events.map((e: { streamVersion: number }) => e.streamVersion)).toEqual([5, 4]);
    const all = (await get('/streams/$all?count=1000')).json();
    const third = all.events[2].globalPosition;
    const after = (await get(`/streams/$all?from=${third}&count=2`)).json();
    expect(after.events).toEqual(all.events.slice(3, 5));
    expect((await get('/streams/$all?from=999999')).json().error.code).toBe('position_not_found');
    // The latest page, newest first: a timeline's first screen, then /subscribe/$all?from=<lastPosition>.
    const latest = (await get('/streams/$all?direction=backward&count=3')).json();
    expect(latest.events).toEqual(all.events.slice(-3).reverse());
    expect(latest.lastPosition).toBe(all.events.at(-1).globalPosition);
    expect((await get('/streams/$all?direction=backward&from=1')).json().error.code).toBe('validation_failed');
    expect((await get('/streams/nothing-here')).json().error.code).toBe('stream_not_found');
  });

  it('refuses writes to the ledger\'s own account streams and bad stream ids', async () => {
    const reserved = await post('/streams/account-H1/events', [{ type: 'MoneyDeposited', data: { amount: '1000000' } }]);
    expect(reserved.statusCode).toBe(403);
    expect(reserved.json().error.code).toBe('stream_reserved');
    expect((await post('/streams/$all/events', [{ type: 'X', data: {} }])).statusCode).toBe(400);
    expect((await post('/streams/s-1/events', [])).statusCode).toBe(400);
    expect((await post('/streams/s-1/events', [{ type: 'X', data: 'not an object' }])).statusCode).toBe(400);
  });
});

describe('operations', () => {
  it('exposes Prometheus metrics: commands by type and outcome, latency, events appended, group-commit batches', async () => {
    const metric = async (line: RegExp) => Number(((await get('/metrics')).body.match(line) ?? [])[1] ?? 0);
    const accepted = /chronicle_commands_total\{type="Deposit",outcome="accepted"\} (\d+)/;
    const rejected = /chronicle_commands_total\{type="Withdraw",outcome="rejected"\} (\d+)/;
    const events = /chronicle_events_appended_total (\d+)/;
    const [a0, r0, e0] = [await metric(accepted), await metric(rejected), await metric(events)];
    await open('M1', 'EUR', '10');
    await post('/commands/withdraw', { accountId: 'M1', amount: '11' });
    expect(await metric(accepted)).toBe(a0 + 1);
    expect(await metric(rejected)).toBe(r0 + 1);
    expect(await metric(events)).toBe(e0 + 2);
    const text = (await get('/metrics')).body;
    expect(text).toMatch(/chronicle_command_duration_seconds_bucket\{le="0.05",type="Deposit"\} \d+/);
    expect(text).toMatch(/chronicle_group_commit_batch_appends_count \d+/);
    expect((await get('/metrics')).headers['content-type']).toMatch(/text\/plain/);
  });

  it('security headers on every answer; CORS only for the configured origin', async () => {
    for (const response of [await get('/health'), await get('/nowhere'), await post('/commands/deposit', { amount: 'x' })]) {
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(response.headers['referrer-policy']).toBe('no-referrer');
    }
    const preflight = (origin: string) => ledger.app.inject({
      method: 'OPTIONS', url: '/commands/deposit',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key' },
    });
    const allowed = await preflight('http://localhost:3000');
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(String(allowed.headers['access-control-allow-headers'])).toContain('idempotency-key');
    const other = await preflight('https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const read = await ledger.app.inject({ url: '/accounts', headers: { origin: 'http://localhost:3000' } });
    expect(read.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(String(read.headers['access-control-expose-headers'])).toContain('chronicle-freshness');
  });

  it('serves health and an OpenAPI document naming every route', async () => {
    expect((await get('/health')).json()).toMatchObject({
      status: 'ok', store: 'pglite',
      components: { eventStore: { status: 'up' }, readStore: { status: 'up', separate: false }, bus: { status: 'up', kind: 'in-process' }, relay: { status: 'up' } },
    });
    const doc = (await get('/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/accounts', '/accounts/{id}/balance', '/accounts/{id}/history',
      '/audit/checkpoint', '/audit/checkpoints', '/audit/consistency', '/audit/events/{eventId}/proof', '/audit/public-key',
      '/cluster', '/cluster/nodes/{name}/kill', '/cluster/nodes/{name}/restart', '/commands/create-account', '/commands/deposit',
      '/commands/transfer', '/commands/withdraw', '/health', '/metrics', '/projections', '/projections/{name}',
      '/projections/{name}/dead-letters', '/projections/{name}/dead-letters/{eventId}/replay', '/projections/{name}/reset',
      '/projections/{name}/state', '/streams/$all', '/streams/{streamId}', '/streams/{streamId}/events',
      '/subscribe/$all', '/subscribe/streams/{streamId}', '/whoami',
    ]);
  });
});
