// Hostile input at every endpoint (issue 4, "Hostile input"): generated path ids, query strings, headers and
// bodies, including SQL injection payloads, invalid UTF-8, huge numbers and deep nesting. Whatever arrives,
// the answer is never a 5xx; a 4xx is the one error shape; and nothing is written by a refused request (the
// event count is the same before and after). Injection payloads that are valid values (an owner's name)
// are stored and read back verbatim: SQL is never built from input.
//
// The subscription routes stream forever when given valid input, so they are fuzzed only with values that
// cannot be valid (test/subscriptions.int.test.ts covers their refusals one by one).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import { generateApiKey } from '../src/application/api-keys.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import { countEvents, embeddedDatabase, type SqlAccess } from './support/sql-access.js';

let ledger: Ledger;
let db: SqlAccess;
const eventCount = () => countEvents(db.sql);

// Access control on, as the CLI runs it: requests carry the admin key (which may do everything) unless the
// fuzzer sends an Authorization header of its own, garbage included.
const ADMIN_KEY = generateApiKey().key;
const inject = (options: InjectOptions) =>
  ledger.app.inject({ ...options, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(options.headers as Record<string, string> | undefined) } });

beforeAll(async () => {
  db = await embeddedDatabase();
  ledger = await createLedger({
    store: db.target, processMetrics: false, readWaitMaxMs: 50,
    auth: { bootstrapKey: ADMIN_KEY, rateLimitPerMinute: 1_000_000_000 },
  });
  for (const id of ['H1', 'H2']) {
    await inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: id, owner: 'Hostile', currency: 'EUR' } });
    await inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: id, amount: '1000' } });
  }
});
afterAll(async () => {
  await ledger?.close();
});

const INJECTIONS = [
  "' OR '1'='1", "'; DROP TABLE events; --", "Robert'); DROP TABLE account_balance;--", '1; SELECT pg_sleep(5)',
  '" OR ""="', '$1', '\\x27', "1' UNION SELECT * FROM idempotency_keys --", '%27%20OR%201%3D1', '${jndi:ldap://x/a}',
  '<script>alert(1)</script>', '../../etc/passwd', '\u0000', '%00', '%C3%28', '%FF%FE', 'account-H1', '$all', '*', '>',
  'a'.repeat(5_000), '9'.repeat(40), '-1', '1e3', '0x10', ' 1', '1.5', 'NaN', 'Infinity', '\u202e', '😀', 'e\u0301',
];
const TEXT = fc.oneof(fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
/** Raw into a URL: percent-encoded, except that invalid escapes and raw bytes from the list stay as they are. */
const inUrl = (text: string) => (/^%[0-9A-F]{2}/.test(text) ? text : encodeURIComponent(text));

const QUERY_KEYS = ['at', 'minPosition', 'maxWaitMs', 'after', 'limit', 'fromVersion', 'from', 'count', 'direction', 'wait', 'x', 'limit[]', 'treeSize', 'to', 'q'];
const QUERY = fc.array(fc.tuple(fc.constantFrom(...QUERY_KEYS), TEXT), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${inUrl(v)}`).join('&')}`));

const HEADERS = fc.dictionary(
  fc.constantFrom('content-type', 'expected-version', 'idempotency-key', 'x-correlation-id', 'last-event-id', 'accept', 'content-encoding', 'authorization'),
  fc.oneof(
    fc.constantFrom('Bearer', 'Bearer ', 'Basic YTpi', `Bearer ${'chr_0123456789abcdef_'.padEnd(64, 'A')}`, 'Bearer chr_zz_zz', `bearer ${'x'.repeat(2_000)}`),
    fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'gzip', '-5', 'no-stream', 'x'.repeat(300)),
    fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    fc.constantFrom('k\u0000', '\u0000', 'any\u0000'), // NUL in Idempotency-Key, Expected-Version, ...
  ),
  { maxKeys: 3 },
);

const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const BODY = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.dictionary(fc.constantFrom('accountId', 'owner', 'currency', 'amount', 'fromAccountId', 'toAccountId', 'type', 'data', 'eventId', 'metadata'),
    fc.oneof(TEXT, fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 2 }))).map((o) => JSON.stringify(o)),
  fc.array(fc.record({ type: TEXT, data: fc.jsonValue({ maxDepth: 3 }) }), { maxLength: 3 }).map((a) => JSON.stringify(a)),
  fc.constantFrom(
    deep(10_000), `[{"type":"Deep","data":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}]`, '{"amount": 1e999}', '{"amount": 123456789012345678901234567890}',
    '[{"type":"T","data":{"n":1e400}}]', '{"accountId":"H1","amount":"1"', '\u0000', '', 'null', '[]', '{}',
    // U+0000, which PostgreSQL cannot store (issue 10): in values, keys, metadata and command fields.
    '[{"type":"T","data":{"a":"\\u0000"}}]', '[{"type":"T","data":{"\\u0000":1}}]', '[{"type":"T","data":{},"metadata":{"m":["x\\u0000"]}}]',
    '{"accountId":"H1","owner":"a\\u0000","currency":"EUR"}', '{"accountId":"H1\\u0000","amount":"1"}', '{"name":"\\u0000","role":"reader"}',
  ),
  // Any JSON with a NUL spliced into its strings and keys.
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify([{ type: 'T', data: { v }, metadata: { note: 'n' } }]).replace(/"([^"]*)"/g, '"$1\\u0000"')),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)), // not UTF-8 at all, mostly
  fc.constant(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])), // {"a":"<invalid UTF-8>"}
);

type Route = { method: 'GET' | 'POST'; path: (id: string, id2: string) => string; body?: boolean };
const ROUTES: Route[] = [
  { method: 'POST', path: () => '/commands/create-account', body: true },
  { method: 'POST', path: () => '/commands/deposit', body: true },
  { method: 'POST', path: () => '/commands/withdraw', body: true },
  { method: 'POST', path: () => '/commands/transfer', body: true },
  { method: 'POST', path: (id) => `/streams/${id}/events`, body: true },
  { method: 'GET', path: (id) => `/streams/${id}` },
  { method: 'GET', path: () => '/streams/$all' },
  { method: 'GET', path: (id) => `/accounts/${id}/balance` },
  { method: 'GET', path: (id) => `/accounts/${id}/history` },
  { method: 'GET', path: () => '/accounts' },
  { method: 'GET', path: () => '/projections' },
  { method: 'GET', path: (id) => `/projections/${id}` },
  { method: 'GET', path: (id) => `/projections/${id}/state` },
  { method: 'GET', path: (id) => `/projections/${id}/dead-letters` },
  { method: 'POST', path: (id) => `/projections/${id}/reset` },
  { method: 'POST', path: (id, id2) => `/projections/${id}/dead-letters/${id2}/replay` },
  { method: 'GET', path: () => '/audit/checkpoint' },
  { method: 'GET', path: () => '/audit/checkpoints' },
  { method: 'GET', path: () => '/audit/public-key' },
  { method: 'GET', path: (id) => `/audit/events/${id}/proof` },
  { method: 'GET', path: () => '/audit/consistency' },
  { method: 'POST', path: () => '/keys', body: true },
  { method: 'GET', path: () => '/keys' },
  { method: 'POST', path: (id) => `/keys/${id}/revoke` },
  { method: 'GET', path: () => '/whoami' },
  { method: 'GET', path: () => '/streams/$all?direction=backward' },
  { method: 'GET', path: () => '/health' },
  { method: 'GET', path: (id) => `/nowhere/${id}` },
];

function expectErrorShape(status: number, body: string, what: string): void {
  expect(status, what).toBeLessThan(500);
  if (status >= 400) {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    expect(Object.keys(parsed), what).toEqual(['error']);
    expect(typeof parsed.error?.code, what).toBe('string');
    expect(typeof parsed.error?.message, what).toBe('string');
  }
}

describe('hostile input at every endpoint', () => {
  it('never a 5xx, always the error shape, nothing written when refused', async () => {
    const statuses = new Set<number>();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...ROUTES), TEXT, TEXT, QUERY, HEADERS, BODY,
      async (route, id, id2, query, headers, body) => {
        // A real projection name would start a rebuild: fuzz its reset only with names that cannot exist.
        const name = route.path === ROUTES[14]!.path && id === 'accounts' ? 'accounts!' : id;
        const path = route.path(inUrl(name), inUrl(id2));
        const url = path.includes('?') && query !== '' ? `${path}&${query.slice(1)}` : path + query;
        const before = await eventCount();
        const response = await inject({
          method: route.method, url, headers,
          ...(route.body ? { payload: body } : {}),
        });
        const what = `${route.method} ${url} ${JSON.stringify(headers)} ${String(body).slice(0, 80)}`;
        expectErrorShape(response.statusCode, response.body, what);
        statuses.add(response.statusCode);
        if (response.statusCode >= 400) expect(await eventCount(), what).toBe(before);
      },
    ), { numRuns: 600 });
    // The generator reached past the router and the validators, not only the 404 handler.
    expect([...statuses]).toEqual(expect.arrayContaining([200, 400, 401, 404, 415]));
  }, 240_000);

  it('U+0000 anywhere in an event or a command is refused by name (400 nul_character), never stored', async () => {
    await fc.assert(fc.asyncProperty(
      // Without __proto__ / constructor keys: the JSON parser refuses those first (400 malformed_json), a
      // refusal of its own that the fuzz above covers.
      fc.jsonValue({ maxDepth: 3 }).filter((v) => !/"(__proto__|constructor)"/.test(JSON.stringify(v))),
      fc.string({ maxLength: 8 }).filter((t) => !/__proto__|constructor/.test(t)), fc.boolean(), fc.constantFrom('data', 'metadata', 'key'),
      async (value, text, command, where) => {
        const nul = `${text}\u0000${text}`;
        const payload = command
          ? { accountId: 'H1', owner: nul, currency: 'EUR' }
          : [{ type: 'T', data: where === 'key' ? { [nul]: value } : where === 'data' ? { v: value, s: nul } : { v: value }, ...(where === 'metadata' ? { metadata: { m: [value, nul] } } : {}) }];
        const before = await eventCount();
        const response = await inject({ method: 'POST', url: command ? '/commands/create-account' : '/streams/nul-1/events', payload });
        expect(response.statusCode, response.body).toBe(400);
        expect(response.json().error.code).toBe('nul_character');
        expect(await eventCount()).toBe(before);
      },
    ), { numRuns: 100 });
  }, 60_000);

  it('deep nesting is refused by name, at any depth the body limit allows', async () => {
    const before = await eventCount();
    for (const depth of [65, 1_000, 5_000, 100_000]) {
      for (const payload of [`[{"type":"Deep","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}]`,
        `[{"type":"Deep","data":{},"metadata":{"m":${'['.repeat(depth)}${']'.repeat(depth)}}}]`]) {
        const response = await inject({ method: 'POST', url: '/streams/deep-1/events', headers: { 'content-type': 'application/json' }, payload });
        expectErrorShape(response.statusCode, response.body, `depth ${depth}`);
        expect(response.statusCode, `depth ${depth}`).toBe(400);
      }
      const command = await inject({ method: 'POST', url: '/commands/deposit', headers: { 'content-type': 'application/json' }, payload: `{"accountId":"H1","amount":${'['.repeat(depth)}${']'.repeat(depth)}}` });
      expectErrorShape(command.statusCode, command.body, `command depth ${depth}`);
      expect(command.statusCode).toBeGreaterThanOrEqual(400);
    }
    const ok = await inject({ method: 'POST', url: '/streams/deep-1/events', payload: [{ type: 'Deep', data: JSON.parse(`${'{"a":'.repeat(63)}1${'}'.repeat(63)}`) }] });
    expect(ok.statusCode).toBe(201); // 64 levels, the documented limit, is fine
    expect(await eventCount()).toBe(before + 1);
  });

  it('subscriptions refuse what cannot be valid, before streaming', async () => {
    for (const id of INJECTIONS.filter((t) => !/^[A-Za-z0-9]/.test(t) || t.length > 200)) {
      for (const url of [`/subscribe/streams/${inUrl(id)}`, `/subscribe/$all?from=${inUrl(id)}`]) {
        if (url.endsWith('from=')) continue;
        const response = await inject({ method: 'GET', url });
        expectErrorShape(response.statusCode, response.body, url);
        expect(response.statusCode, url).toBeGreaterThanOrEqual(400);
      }
    }
  });

  it('injection payloads that are valid values are stored verbatim; the tables are all still there', async () => {
    const before = await eventCount();
    const owner = "Robert'); DROP TABLE events;-- \"x\" $1 \\ %00";
    const created = await inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: 'Bobby.Tables', owner, currency: 'EUR' } });
    expect(created.statusCode).toBe(201);
    const { globalPosition } = created.json() as { globalPosition: number };
    const read = (await inject({ url: `/accounts/Bobby.Tables/balance?minPosition=${globalPosition}&maxWaitMs=50` })).json();
    expect(read.owner).toBe(owner);
    const raw = await inject({
      method: 'POST', url: '/streams/inj-1/events',
      payload: [{ type: 'Note', data: { text: "'; DELETE FROM events; --", nested: { sql: 'SELECT * FROM pg_user' } } }],
    });
    expect(raw.statusCode).toBe(201);
    const back = (await inject({ url: '/streams/inj-1' })).json();
    expect(back.events[0].data).toEqual({ text: "'; DELETE FROM events; --", nested: { sql: 'SELECT * FROM pg_user' } });
    const tables = await db.sql.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
    );
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['account_balance', 'account_transactions', 'events', 'idempotency_keys', 'streams']));
    expect(await eventCount()).toBe(before + 2);
  });
});
