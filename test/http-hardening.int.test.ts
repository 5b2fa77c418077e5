// Issue 10, items 6, 7, 8, 10 and 11 (the HTTP side), on the embedded PGlite store with access control on:
// - Idempotency-Keys belong to the principal that sent them: another principal's key neither answers nor
//   reveals anything, and a key stored before scoping still replays for the principal that wrote it.
// - A refusal (or a receipt) tells a writer nothing its role may not read: no balance, no currency, no version.
// - U+0000 anywhere in a request is a 400 `nul_character`, never a 500, and writes nothing.
// - Slow clients are cut off: a body or headers dripped byte by byte get a 408 in the error shape and the
//   connection closed within the configured bound (made small here), over a real port.
// - The 431 of too-large headers is in the error shape.
// - Failed authentications are limited per client address before they cost queries; unknown ids are
//   cached apart, briefly, and a key created under a cached unknown id works within the cache's TTL.
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqlApiKeyStore } from '../src/adapters/api-keys/sql-api-key-store.js';
import { ApiKeys, generateApiKey, hashApiKey, principalOf } from '../src/application/api-keys.js';
import { scopedIdempotencyKey } from '../src/application/command-handler.js';
import { nulPointer } from '../src/http/nul-guard.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import { countEvents, embeddedDatabase, type SqlAccess } from './support/sql-access.js';
import { pgliteTarget } from './support/stores.js';

const ADMIN_KEY = generateApiKey().key;
let ledger: Ledger;
let db: SqlAccess;
let writerKey: string;
let writerPrincipal: string;
let adminPrincipal: string;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const post = (url: string, key: string, payload: unknown, headers: Record<string, string> = {}) =>
  ledger.app.inject({ method: 'POST', url, headers: { ...bearer(key), ...headers }, payload: payload as object });
const eventsOf = (streamId: string) => countEvents(db.sql, streamId);
const eventCount = () => countEvents(db.sql);

beforeAll(async () => {
  db = await embeddedDatabase();
  ledger = await createLedger({ store: db.target, processMetrics: false, auth: { bootstrapKey: ADMIN_KEY, rateLimitPerMinute: 1_000_000 } });
  const made = await ledger.keys!.create({ name: 'writer', role: 'writer', createdBy: 'test' });
  writerKey = made.key;
  writerPrincipal = `key:${made.info.id}`;
  adminPrincipal = (await ledger.app.inject({ url: '/whoami', headers: bearer(ADMIN_KEY) })).json().principal;
  for (const [id, currency] of [['I1', 'EUR'], ['I2', 'EUR'], ['U1', 'USD']] as const) {
    expect((await post('/commands/create-account', ADMIN_KEY, { accountId: id, owner: 'Idem', currency })).statusCode).toBe(201);
  }
  expect((await post('/commands/deposit', ADMIN_KEY, { accountId: 'I1', amount: '1000' })).statusCode).toBe(201);
});
afterAll(async () => {
  await ledger?.close();
});

describe('Idempotency-Keys are per principal (item 6)', () => {
  it("a writer reusing an admin's key runs its own command and sees nothing of the admin's", async () => {
    const key = `shared-${randomUUID()}`;
    const before = await eventsOf('account-I2');
    const admin = await post('/commands/deposit', ADMIN_KEY, { accountId: 'I2', amount: '5' }, { 'idempotency-key': key });
    expect(admin.statusCode).toBe(201);
    // Same key, same body, another principal: its own deposit, not the admin's answer.
    const writer = await post('/commands/deposit', writerKey, { accountId: 'I2', amount: '5' }, { 'idempotency-key': key });
    expect(writer.statusCode, writer.body).toBe(201);
    expect(writer.headers['idempotent-replayed']).toBeUndefined();
    expect(writer.json().commandId).not.toBe(admin.json().commandId);
    expect(await eventsOf('account-I2')).toBe(before + 2);
    // Same key, another body: not a 409 that would tell the writer the key exists.
    const other = await post('/commands/deposit', writerKey, { accountId: 'I2', amount: '6' }, { 'idempotency-key': `${key}-x` });
    expect(other.statusCode).toBe(201);
    const probe = await post('/commands/deposit', writerKey, { accountId: 'I2', amount: '7' }, { 'idempotency-key': key });
    // ... the key is the writer's own now (it used it above), so a different body is its own conflict,
    expect(probe.statusCode).toBe(409);
    expect(probe.json().error).toMatchObject({ code: 'idempotency_key_reused', details: { key } });
    // ... while a key only the admin used is invisible to the writer.
    const adminOnly = `admin-only-${randomUUID()}`;
    expect((await post('/commands/deposit', ADMIN_KEY, { accountId: 'I2', amount: '1' }, { 'idempotency-key': adminOnly })).statusCode).toBe(201);
    const blind = await post('/commands/deposit', writerKey, { accountId: 'I2', amount: '2' }, { 'idempotency-key': adminOnly });
    expect(blind.statusCode, blind.body).toBe(201);
    // Each principal's repeat replays its own first answer.
    const again = await post('/commands/deposit', writerKey, { accountId: 'I2', amount: '5' }, { 'idempotency-key': key });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().commandId).toBe(writer.json().commandId);
    const adminAgain = await post('/commands/deposit', ADMIN_KEY, { accountId: 'I2', amount: '5' }, { 'idempotency-key': key });
    expect(adminAgain.headers['idempotent-replayed']).toBe('true');
    expect(adminAgain.json().commandId).toBe(admin.json().commandId);
  });

  it('a key stored before scoping (bare) replays for the principal that wrote it, and only for it', async () => {
    const key = `legacy-${randomUUID()}`;
    const first = await post('/commands/deposit', ADMIN_KEY, { accountId: 'I2', amount: '3' }, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    // As the code before scoping stored it: the bare key.
    await db.sql.query('UPDATE idempotency_keys SET key = $1 WHERE key = $2', [key, scopedIdempotencyKey(adminPrincipal, key)]);
    expect(await ledger.store.findIdempotencyKey(key)).not.toBeNull();
    const before = await eventsOf('account-I2');
    const replay = await post('/commands/deposit', ADMIN_KEY, { accountId: 'I2', amount: '3' }, { 'idempotency-key': key });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json().commandId).toBe(first.json().commandId);
    expect((await post('/commands/deposit', ADMIN_KEY, { accountId: 'I2', amount: '4' }, { 'idempotency-key': key })).statusCode).toBe(409);
    const writer = await post('/commands/deposit', writerKey, { accountId: 'I2', amount: '3' }, { 'idempotency-key': key });
    expect(writer.statusCode).toBe(201);
    expect(writer.headers['idempotent-replayed']).toBeUndefined();
    expect(await eventsOf('account-I2')).toBe(before + 1);
    expect(writerPrincipal).toMatch(/^key:/);
  });
});

describe('refusals disclose nothing the role may not read (item 7)', () => {
  it('insufficient_funds tells a writer no balance; a reader-capable key still sees it', async () => {
    const writer = await post('/commands/withdraw', writerKey, { accountId: 'I1', amount: '9223372036854775807' });
    expect(writer.statusCode).toBe(422);
    expect(writer.json().error.code).toBe('insufficient_funds');
    expect(writer.json().error.details).not.toHaveProperty('balance');
    expect(writer.body).not.toContain('"1000"');
    const admin = await post('/commands/withdraw', ADMIN_KEY, { accountId: 'I1', amount: '9223372036854775807' });
    expect(admin.json().error.details).toMatchObject({ balance: '1000' });
  });

  it("currency_mismatch names no currency, version_conflict no version, and a writer's receipt no balance", async () => {
    const mismatch = await post('/commands/transfer', writerKey, { fromAccountId: 'I1', toAccountId: 'U1', amount: '1' });
    expect(mismatch.json().error.code).toBe('currency_mismatch');
    expect(mismatch.body).not.toMatch(/EUR|USD/);
    const stream = `hard-${randomUUID()}`;
    expect((await post(`/streams/${stream}/events`, writerKey, [{ type: 'T', data: {} }])).statusCode).toBe(201);
    const conflict = await post(`/streams/${stream}/events`, writerKey, [{ type: 'T', data: {} }], { 'expected-version': '5' });
    expect(conflict.json().error.code).toBe('version_conflict');
    expect(conflict.json().error.details).not.toHaveProperty('actualVersion');
    const adminConflict = await post(`/streams/${stream}/events`, ADMIN_KEY, [{ type: 'T', data: {} }], { 'expected-version': '5' });
    expect(adminConflict.json().error.details).toMatchObject({ actualVersion: 1 });
    const receipt = await post('/commands/deposit', writerKey, { accountId: 'I1', amount: '1' });
    expect(receipt.statusCode).toBe(201);
    expect(receipt.json()).not.toHaveProperty('balances');
    expect((await post('/commands/deposit', ADMIN_KEY, { accountId: 'I1', amount: '1' })).json()).toHaveProperty('balances');
  });
});

describe('U+0000 is a 400 nul_character everywhere (item 8)', () => {
  const NUL = '\u0000';
  it.each([
    ['data value', [{ type: 'T', data: { note: `a${NUL}b` } }], '/body/0/data/note'],
    ['data key', [{ type: 'T', data: { [`k${NUL}`]: 1 } }], '/body/0/data/k\\u0000'],
    ['metadata', [{ type: 'T', data: {}, metadata: { m: [NUL] } }], '/body/0/metadata/m/0'],
  ])('in a raw append, %s', async (_what, payload, path) => {
    const before = await eventCount();
    const response = await post('/streams/nul-1/events', writerKey, payload);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'nul_character', details: { path } });
    expect(nulPointer(response.json(), '')).toBeNull(); // the answer carries no NUL back
    expect(await eventCount()).toBe(before);
  });

  it('in a command body, a query, a path parameter and the Idempotency-Key header', async () => {
    const before = await eventCount();
    const owner = await post('/commands/create-account', writerKey, { accountId: 'N1', owner: `Ada${NUL}`, currency: 'EUR' });
    expect(owner.json().error).toMatchObject({ code: 'nul_character', details: { path: '/body/owner' } });
    const id = await post('/commands/deposit', writerKey, { accountId: `I1${NUL}`, amount: '1' });
    expect(id.json().error.code).toBe('nul_character');
    const header = await post('/commands/deposit', writerKey, { accountId: 'I1', amount: '1' }, { 'idempotency-key': `k${NUL}` });
    expect(header.statusCode).toBe(400);
    expect(header.json().error).toMatchObject({ code: 'nul_character', details: { path: '/headers/idempotency-key' } });
    for (const url of ['/streams/a%00b/events', '/streams/x%00']) {
      const response = await ledger.app.inject({ method: url.endsWith('events') ? 'POST' : 'GET', url, headers: bearer(ADMIN_KEY), ...(url.endsWith('events') ? { payload: [{ type: 'T', data: {} }] } : {}) });
      expect(response.json().error, url).toMatchObject({ code: 'nul_character', details: { path: '/params/streamId' } });
    }
    for (const url of ['/accounts/I1%00/balance', '/accounts?q=a%00', '/projections/x%00y', '/streams/$all?from=%00']) {
      const response = await ledger.app.inject({ url, headers: bearer(ADMIN_KEY) });
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error.code, url).toBe('nul_character');
    }
    expect(await eventCount()).toBe(before);
  });
});

/** Sends `head` on a raw connection, then `drip` every `everyMs` until the server closes; what it said and when. */
function dripping(port: number, head: string, drip: string, everyMs: number): Promise<{ closedAfterMs: number; answer: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => { if (!socket.destroyed) socket.write(drip); }, everyMs);
    });
    socket.on('data', (d) => (answer += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
  });
}

const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };

describe('slow clients are cut off; 431 in the error shape (items 10, 11)', () => {
  let timed: Ledger;
  let port: number;
  const REQUEST_TIMEOUT_MS = 1_000;
  const HEADERS_TIMEOUT_MS = 600;
  beforeAll(async () => {
    timed = await createLedger({
      store: await pgliteTarget(), processMetrics: false, auth: { bootstrapKey: ADMIN_KEY },
      httpTimeouts: { requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS, connectionTimeoutMs: 20_000 },
    });
    await timed.app.listen({ port: 0, host: '127.0.0.1' });
    port = (timed.app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await timed?.close();
  });

  it('16 clients dripping chunked bodies get 408 request_timeout and are closed within the bound', async () => {
    const head = `POST /commands/deposit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_KEY}\r\n`
      + 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n';
    const results = await Promise.all(Array.from({ length: 16 }, () => dripping(port, head, '1\r\n \r\n', 100)));
    for (const { closedAfterMs, answer } of results) {
      // requestTimeout plus Node's check interval (a quarter of the smaller bound) and a busy machine's slack.
      expect(closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 1_500);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(bodyOf(answer).error.code).toBe('request_timeout');
    }
  }, 20_000);

  it('a client dripping its headers is closed within the headers bound', async () => {
    const { closedAfterMs, answer } = await dripping(port, 'GET /health HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 100);
    expect(closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 1_500);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(bodyOf(answer).error.code).toBe('request_timeout');
  }, 10_000);

  it('headers larger than Node accepts: 431 headers_too_large in the error shape', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`));
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer.toLowerCase()).toContain('content-type: application/json');
    expect(bodyOf(answer)).toEqual({ error: { code: 'headers_too_large', message: expect.any(String) } });
  });
});

describe('failed authentications cost bounded queries (item 11)', () => {
  it('past AUTH_FAILURES_PER_MINUTE an address gets 429 with Retry-After, and its guesses no query', async () => {
    const limited = await createLedger({ store: await pgliteTarget(), processMetrics: false, auth: { bootstrapKey: ADMIN_KEY, authFailuresPerMinute: 20 } });
    const finds = vi.spyOn(SqlApiKeyStore.prototype, 'find');
    try {
      // The admin key is looked up (and cached) first: valid keys are not what this limits.
      expect((await limited.app.inject({ url: '/whoami', headers: bearer(ADMIN_KEY) })).statusCode).toBe(200);
      finds.mockClear();
      const answers = await Promise.all(Array.from({ length: 300 }, () => limited.app.inject({ url: '/whoami', headers: bearer(generateApiKey().key) })));
      const statuses = answers.map((a) => a.statusCode);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(20);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(280);
      expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
      const refused = answers.find((a) => a.statusCode === 429)!;
      expect(refused.json().error).toMatchObject({ code: 'rate_limited', details: { retryAfterSeconds: expect.any(Number) } });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(finds.mock.calls.length).toBeLessThanOrEqual(20);
      // The valid key, cached, still works from that address.
      expect((await limited.app.inject({ url: '/whoami', headers: bearer(ADMIN_KEY) })).statusCode).toBe(200);
    } finally {
      finds.mockRestore();
      await limited.close();
    }
  });

  it('an unknown id is cached apart and briefly: a key created under it works within the TTL', async () => {
    let nowMs = 1_000_000;
    const store = new SqlApiKeyStore(db.sql);
    const keys = new ApiKeys(store, { cacheTtlMs: 2_000, now: () => nowMs });
    const finds = vi.spyOn(store, 'find');
    const { id, key } = generateApiKey();
    expect(await keys.authenticate(key)).toBeNull();
    expect(keys.cached(key)).toBeNull(); // remembered as unknown: no query
    expect(finds).toHaveBeenCalledTimes(1);
    // Created meanwhile by another process (or the CLI):
    await store.insert({ id, name: 'late', role: 'reader', keyHash: hashApiKey(key), createdBy: 'test' });
    nowMs += 1_999;
    expect(await keys.authenticate(key)).toBeNull(); // within the TTL, still the cached answer
    nowMs += 2;
    expect(await keys.authenticate(key)).toEqual(principalOf({ id, name: 'late', role: 'reader' }));
    // Many unknown ids do not push a valid key out of its cache.
    for (let i = 0; i < 50; i++) await keys.authenticate(generateApiKey().key);
    expect(keys.cached(key)).not.toBeUndefined();
    // A key created through this object works at once, whatever was presented under its id before.
    const made = await keys.create({ name: 'fresh', role: 'writer', createdBy: 'test' });
    expect(await keys.authenticate(made.key)).not.toBeNull();
  });
});
