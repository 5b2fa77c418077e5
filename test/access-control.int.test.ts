// Access control, on PGlite and PostgreSQL: every route refuses a request without a valid key (401) and a key
// of the wrong role (403), and serves the role it declares (admin: every route). Proven route by route with a
// key of each role, against a table of one request per route; a separate test lists every route the app
// registered and fails on one that declares no role, or that the table forgets. Also: the event's created_by
// is the key's principal, keys are stored only hashed, revocation, the bootstrap key, the generated key
// printed once, the insecure flag's warning, the rate limit (429) and the body limit (413).
import { createHash, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreTarget } from '../src/adapters/event-store/open-store.js';
import { SqlApiKeyStore } from '../src/adapters/api-keys/sql-api-key-store.js';
import { ApiKeys, generateApiKey } from '../src/application/api-keys.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { accessControl, mayUse, type DeclaredRoute } from '../src/http/access-control.js';
import { handleError } from '../src/http/errors.js';
import { RateLimiter } from '../src/http/rate-limit.js';
import { createLedger, type AuthOptions, type Ledger } from '../src/ledger.js';
import { KEY_ROLES, type KeyRole } from '../src/ports/api-key-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { embeddedDatabase, sqlAccessTo, type SqlAccess } from './support/sql-access.js';
import { CLI_MAIN } from './support/cli-main.js';
import { pgliteDataDir, pgliteTarget } from './support/stores.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const only = process.env['CHRONICLE_TEST_STORES'];
const STORES = (['pglite', 'postgres'] as const).filter((s) => only === undefined || only === s);
const pgUp = await postgresAvailable();

/** A place for a ledger that can be closed and opened again: a PGlite directory or a PostgreSQL database. */
interface Place {
  target: StoreTarget;
  drop(): Promise<void>;
}
async function newPlace(kind: 'pglite' | 'postgres'): Promise<Place> {
  if (kind === 'pglite') {
    const dataDir = await pgliteDataDir('chronicle-auth-');
    return { target: { kind: 'pglite', dataDir }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const db: TestDatabase = await createTestDatabase();
  return { target: { kind: 'postgres', url: db.url, poolMax: 4 }, drop: () => db.drop() };
}

/** Log lines as parsed JSON. */
function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

const open = (target: StoreTarget, auth: AuthOptions | undefined, extra: Partial<Parameters<typeof createLedger>[0]> = {}) =>
  createLedger({ store: target, processMetrics: false, ...(auth ? { auth } : {}), ...extra });

const bearer = (key: string | undefined): Record<string, string> => (key === undefined ? {} : { authorization: `Bearer ${key}` });

function expectError(response: { statusCode: number; json(): any }, status: number, code: string) {
  expect(response.statusCode, JSON.stringify(response.json())).toBe(status);
  expect(response.json()).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
}

const ADMIN_KEY = generateApiKey().key;

describe.each(STORES)('access control on %s', (kind) => {
  const skip = kind === 'postgres' && !pgUp;
  let place: Place;
  /** Raw SQL on the ledger's database. */
  let raw: SqlAccess;
  let ledger: Ledger;
  let base: string;
  const keys = {} as Record<KeyRole, string>;
  const ids = {} as Record<KeyRole, string>;
  let n = 0;
  const unique = (prefix: string) => `${prefix}${++n}`;

  const inject = (method: 'GET' | 'POST', url: string, key?: string, payload?: unknown) =>
    ledger.app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload: payload as object }) });

  beforeAll(async () => {
    if (skip) return;
    place = await newPlace(kind);
    raw = await sqlAccessTo(place.target);
    // With CORS: its preflight route is one of the routes to cover.
    ledger = await open(raw.target, { bootstrapKey: ADMIN_KEY }, { corsOrigins: ['http://localhost:3000'] });
    keys.admin = ADMIN_KEY;
    for (const role of ['reader', 'writer', 'auditor'] as const) {
      const made = await inject('POST', '/keys', ADMIN_KEY, { name: `${role} of the test`, role });
      expect(made.statusCode).toBe(201);
      keys[role] = made.json().key;
      ids[role] = made.json().id;
    }
    await ledger.app.listen({ port: 0, host: '127.0.0.1' });
    const address = ledger.app.server.address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
    // An account for the reads, with a deposit.
    expect((await inject('POST', '/commands/create-account', keys.writer, { accountId: 'R1', owner: 'Reader', currency: 'EUR' })).statusCode).toBe(201);
    expect((await inject('POST', '/commands/deposit', keys.writer, { accountId: 'R1', amount: '500' })).statusCode).toBe(201);
    // A signed checkpoint, for the audit routes.
    await ledger.sealer!.waitForSize(2);
    await ledger.sealer!.checkpointNow();
  });
  afterAll(async () => {
    await ledger?.close();
    await raw?.close();
    await place?.drop();
  });

  /**
   * One request per route, and the status it gets when allowed. Every route the app registers must be here
   * (checked below), so a new route gets a row and its role is tested.
   */
  const ROUTES: { route: string; needs: KeyRole | 'public' | 'any'; send: (key?: string) => Promise<{ statusCode: number; json(): any }>; ok: number }[] = [
    { route: 'POST /commands/create-account', needs: 'writer', ok: 201, send: (k) => inject('POST', '/commands/create-account', k, { accountId: unique('W'), owner: 'W', currency: 'EUR' }) },
    { route: 'POST /commands/deposit', needs: 'writer', ok: 201, send: (k) => inject('POST', '/commands/deposit', k, { accountId: 'R1', amount: '1' }) },
    { route: 'POST /commands/withdraw', needs: 'writer', ok: 201, send: (k) => inject('POST', '/commands/withdraw', k, { accountId: 'R1', amount: '1' }) },
    { route: 'POST /commands/transfer', needs: 'writer', ok: 422, send: (k) => inject('POST', '/commands/transfer', k, { fromAccountId: 'R1', toAccountId: 'R1', amount: '1' }) },
    { route: 'POST /streams/:streamId/events', needs: 'writer', ok: 201, send: (k) => inject('POST', `/streams/${unique('order-')}/events`, k, [{ type: 'Placed', data: {} }]) },
    { route: 'GET /streams/$all', needs: 'auditor', ok: 200, send: (k) => inject('GET', '/streams/$all', k) },
    { route: 'GET /streams/:streamId', needs: 'auditor', ok: 200, send: (k) => inject('GET', '/streams/account-R1', k) },
    { route: 'GET /subscribe/$all', needs: 'auditor', ok: 200, send: (k) => sse('/subscribe/$all', k) },
    { route: 'GET /subscribe/streams/:streamId', needs: 'auditor', ok: 200, send: (k) => sse('/subscribe/streams/account-R1', k) },
    { route: 'GET /accounts/:id/balance', needs: 'reader', ok: 200, send: (k) => inject('GET', '/accounts/R1/balance?minPosition=1', k) },
    { route: 'GET /accounts/:id/balance?at=', needs: 'auditor', ok: 200, send: (k) => inject('GET', `/accounts/R1/balance?at=${new Date(Date.now() + 60_000).toISOString()}`, k) },
    { route: 'GET /accounts/:id/history', needs: 'auditor', ok: 200, send: (k) => inject('GET', '/accounts/R1/history', k) },
    { route: 'GET /accounts', needs: 'reader', ok: 200, send: (k) => inject('GET', '/accounts', k) },
    { route: 'GET /projections', needs: 'admin', ok: 200, send: (k) => inject('GET', '/projections', k) },
    { route: 'GET /projections/:name', needs: 'admin', ok: 200, send: (k) => inject('GET', '/projections/accounts', k) },
    { route: 'GET /projections/:name/state', needs: 'admin', ok: 200, send: (k) => inject('GET', '/projections/accounts/state', k) },
    { route: 'POST /projections/:name/reset', needs: 'admin', ok: 200, send: (k) => inject('POST', '/projections/accounts/reset?wait=true', k) },
    { route: 'GET /projections/:name/dead-letters', needs: 'admin', ok: 200, send: (k) => inject('GET', '/projections/accounts/dead-letters', k) },
    { route: 'POST /projections/:name/dead-letters/:eventId/replay', needs: 'admin', ok: 404, send: (k) => inject('POST', `/projections/accounts/dead-letters/${randomUUID()}/replay`, k) },
    { route: 'POST /keys', needs: 'admin', ok: 201, send: (k) => inject('POST', '/keys', k, { name: 'throwaway', role: 'reader' }) },
    { route: 'GET /keys', needs: 'admin', ok: 200, send: (k) => inject('GET', '/keys', k) },
    { route: 'POST /keys/:id/revoke', needs: 'admin', ok: 404, send: (k) => inject('POST', '/keys/0123456789abcdef/revoke', k) },
    { route: 'GET /cluster', needs: 'admin', ok: 200, send: (k) => inject('GET', '/cluster', k) },
    { route: 'POST /cluster/nodes/:name/kill', needs: 'admin', ok: 409, send: (k) => inject('POST', '/cluster/nodes/pg-1/kill', k) },
    { route: 'POST /cluster/nodes/:name/restart', needs: 'admin', ok: 409, send: (k) => inject('POST', '/cluster/nodes/pg-1/restart', k) },
    { route: 'GET /audit/public-key', needs: 'public', ok: 200, send: (k) => inject('GET', '/audit/public-key', k) },
    { route: 'GET /audit/checkpoint', needs: 'auditor', ok: 200, send: (k) => inject('GET', '/audit/checkpoint', k) },
    { route: 'GET /audit/checkpoints', needs: 'auditor', ok: 200, send: (k) => inject('GET', '/audit/checkpoints', k) },
    { route: 'GET /audit/events/:eventId/proof', needs: 'auditor', ok: 404, send: (k) => inject('GET', `/audit/events/${randomUUID()}/proof`, k) },
    { route: 'GET /audit/consistency', needs: 'auditor', ok: 404, send: (k) => inject('GET', '/audit/consistency?from=999999', k) },
    { route: 'GET /whoami', needs: 'any', ok: 200, send: (k) => inject('GET', '/whoami', k) },
    { route: 'GET /health', needs: 'public', ok: 200, send: (k) => inject('GET', '/health', k) },
    { route: 'GET /metrics', needs: 'public', ok: 200, send: (k) => inject('GET', '/metrics', k) },
    { route: 'GET /openapi.json', needs: 'public', ok: 200, send: (k) => inject('GET', '/openapi.json', k) },
    {
      route: 'OPTIONS *', needs: 'public', ok: 204, send: (k) => ledger.app.inject({
        method: 'OPTIONS', url: '/commands/deposit', headers: { ...bearer(k), origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
      }),
    },
  ];

  /** An SSE request over the real socket (inject would wait for the endless body): the status, then gone. */
  async function sse(path: string, key?: string) {
    const controller = new AbortController();
    const response = await fetch(`${base}${path}`, { headers: bearer(key), signal: controller.signal });
    const body = response.status === 200 ? {} : await response.json();
    controller.abort();
    return { statusCode: response.status, json: () => body };
  }

  it.skipIf(skip)('every registered route declares who may call it, and the table below tests each one', () => {
    const declared = ledger.app.declaredRoutes;
    expect(declared.filter((r) => r.access === undefined)).toEqual([]);
    // The recorded list is complete: every operation of the OpenAPI document is in it.
    const paths = (ledger.app.swagger() as { paths: Record<string, Record<string, unknown>> }).paths;
    const documented = Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`));
    const recorded = new Set(declared.map((r) => `${r.method} ${r.url}`));
    for (const op of documented) expect(recorded, op).toContain(op);
    // Every route but the automatic HEADs has a row in ROUTES, with the role the route declares.
    const tested = new Set(ROUTES.map((r) => r.route));
    for (const route of declared.filter((r) => r.method !== 'HEAD')) {
      const name = `${route.method} ${route.url}`;
      expect(tested, `${name} has no row in ROUTES`).toContain(name);
      const row = ROUTES.find((r) => r.route === name)!;
      if (typeof route.access !== 'function') expect(route.access, name).toBe(row.needs);
    }
  });

  it.skipIf(skip)('each route: 401 without a key, 403 for a role it does not grant, served for the roles it does (admin: all)', async () => {
    for (const row of ROUTES) {
      const anonymous = await row.send(undefined);
      if (row.needs === 'public') {
        expect(anonymous.statusCode, row.route).toBe(row.ok);
        continue;
      }
      expectError(anonymous, 401, 'unauthorized');
      for (const role of KEY_ROLES) {
        const answer = await row.send(keys[role]);
        if (row.needs === 'any' || mayUse(role, row.needs)) {
          expect(answer.statusCode, `${row.route} as ${role}: ${JSON.stringify(answer.json())}`).toBe(row.ok);
        } else {
          expectError(answer, 403, 'forbidden');
          expect(answer.json().error.details, `${row.route} as ${role}`).toEqual({ needed: row.needs, role });
        }
      }
    }
  });

  it.skipIf(skip)('GET /whoami tells each key its principal, role and what the role may use', async () => {
    const may = { reader: ['reader'], writer: ['writer'], auditor: ['reader', 'auditor'], admin: ['reader', 'writer', 'auditor', 'admin'] };
    for (const role of KEY_ROLES) {
      const answer = await inject('GET', '/whoami', keys[role]);
      expect(answer.statusCode).toBe(200);
      const body = answer.json();
      expect(body).toMatchObject({ authentication: 'on', role, principal: expect.stringMatching(/^key:[0-9a-f]{16}$/) });
      expect([...body.may].sort()).toEqual([...may[role]].sort());
    }
  });

  it.skipIf(skip)('401 with WWW-Authenticate for a missing, malformed, unknown or badly announced key; the body is not read', async () => {
    const missing = await inject('GET', '/accounts');
    expectError(missing, 401, 'unauthorized');
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="chronicle"');
    const unknown = generateApiKey().key;
    const otherSecret = `${ADMIN_KEY.slice(0, 21)}${generateApiKey().key.slice(21)}`; // the admin's id, a wrong secret
    for (const header of ['Bearer nonsense', `Bearer ${unknown}`, `Bearer ${otherSecret}`, `Basic ${ADMIN_KEY}`, ADMIN_KEY, 'Bearer ', `Bearer ${ADMIN_KEY}x`]) {
      const answer = await ledger.app.inject({ method: 'GET', url: '/accounts', headers: { authorization: header } });
      expectError(answer, 401, 'unauthorized');
      expect(answer.headers['www-authenticate'], header).toMatch(/^Bearer realm="chronicle"/);
    }
    // Refused before the body is parsed: malformed JSON is still a 401, and nothing is written.
    const before = await raw.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    const garbage = await ledger.app.inject({ method: 'POST', url: '/commands/deposit', headers: { 'content-type': 'application/json' }, payload: '{"accountId":' });
    expectError(garbage, 401, 'unauthorized');
    expect(await raw.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).toEqual(before);
    // The scheme is case-insensitive (RFC 7235).
    expect((await ledger.app.inject({ url: '/accounts', headers: { authorization: `bearer ${keys.reader}` } })).statusCode).toBe(200);
  });

  it.skipIf(skip)('created_by of every event is the key\'s principal, never the body\'s; a createdBy field is refused', async () => {
    const deposit = await inject('POST', '/commands/deposit', keys.writer, { accountId: 'R1', amount: '7' });
    expect(deposit.statusCode).toBe(201);
    const [event] = (await ledger.store.readStream('account-R1', { count: 1, direction: 'backward' })).events;
    expect(event!.eventId).toBe(deposit.json().eventIds[0]);
    expect(event!.createdBy).toBe(`key:${ids.writer}`);
    const stream = unique('raw-');
    expect((await inject('POST', `/streams/${stream}/events`, keys.admin, [{ type: 'Noted', data: {} }])).statusCode).toBe(201);
    expect((await ledger.store.readStream(stream, { count: 1, direction: 'forward' })).events[0]!.createdBy).toBe(`key:${ADMIN_KEY.slice(4, 20)}`);

    const count = async () => (await raw.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events'))[0]!.n;
    const before = await count();
    for (const body of [
      { accountId: 'R1', amount: '7', createdBy: 'mallory' },
      { accountId: 'R1', amount: '7', actor: 'mallory' },
    ]) expectError(await inject('POST', '/commands/deposit', keys.writer, body), 400, 'validation_failed');
    expectError(await inject('POST', `/streams/${stream}/events`, keys.writer, [{ type: 'Noted', data: {}, createdBy: 'mallory' }]), 400, 'validation_failed');
    expect(await count()).toBe(before);
    const rows = await raw.sql.query<{ created_by: string }>("SELECT DISTINCT created_by FROM events WHERE created_by NOT LIKE 'key:%'");
    expect(rows).toEqual([]);
  });

  it.skipIf(skip)('keys are stored only as SHA-256: no key appears in the table or in GET /keys', async () => {
    const rows = await raw.sql.query<Record<string, unknown>>('SELECT * FROM api_keys');
    expect(rows.length).toBeGreaterThanOrEqual(4);
    const table = JSON.stringify(rows);
    for (const key of Object.values(keys)) {
      expect(table).not.toContain(key);
      expect(table).not.toContain(key.slice(21)); // the secret part alone
      const id = key.slice(4, 20);
      expect(rows.find((r) => r['id'] === id)!['key_hash']).toBe(createHash('sha256').update(key).digest('hex'));
    }
    const listed = await inject('GET', '/keys', keys.admin);
    const text = listed.body;
    for (const key of Object.values(keys)) expect(text).not.toContain(key.slice(21));
    expect(text).not.toContain('keyHash');
    expect(listed.json().keys).toContainEqual({ id: ids.reader, name: 'reader of the test', role: 'reader', createdAt: expect.any(String), createdBy: `key:${ADMIN_KEY.slice(4, 20)}`, revokedAt: null });
  });

  it.skipIf(skip)('a revoked key is refused at once by the process that revoked it; revoking twice keeps the first time', async () => {
    const made = (await inject('POST', '/keys', keys.admin, { name: 'to revoke', role: 'reader' })).json();
    expect((await inject('GET', '/accounts', made.key)).statusCode).toBe(200); // now cached
    const revoked = await inject('POST', `/keys/${made.id}/revoke`, keys.admin);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: made.id, revokedAt: expect.any(String) });
    expectError(await inject('GET', '/accounts', made.key), 401, 'unauthorized');
    const again = await inject('POST', `/keys/${made.id}/revoke`, keys.admin);
    expect(again.json().revokedAt).toBe(revoked.json().revokedAt);
    expectError(await inject('POST', '/keys/0000000000000000/revoke', keys.admin), 404, 'key_not_found');
    expectError(await inject('POST', '/keys/NOT-AN-ID/revoke', keys.admin), 400, 'validation_failed');
  });

  it.skipIf(skip || kind !== 'postgres')('another process sharing the database refuses a revoked key within its key cache time', async () => {
    const ttlMs = 500;
    const other = await open(place.target, { bootstrap: false, keyCacheTtlMs: ttlMs });
    try {
      const made = (await inject('POST', '/keys', keys.admin, { name: 'revoked elsewhere', role: 'reader' })).json();
      expect((await other.app.inject({ url: '/accounts', headers: bearer(made.key) })).statusCode).toBe(200);
      const revokedAt = Date.now();
      expect((await inject('POST', `/keys/${made.id}/revoke`, keys.admin)).statusCode).toBe(200);
      await expect.poll(async () => (await other.app.inject({ url: '/accounts', headers: bearer(made.key) })).statusCode, { timeout: 5_000, interval: 50 }).toBe(401);
      expect(Date.now() - revokedAt).toBeLessThan(ttlMs + 1_000);
    } finally {
      await other.close();
    }
  });

  it.skipIf(skip)('413 in the error shape for a body over the limit (64 KiB by default, 16 KiB for commands)', async () => {
    const big = await inject('POST', '/keys', keys.admin, { name: 'x'.repeat(65 * 1024), role: 'reader' });
    expectError(big, 413, 'body_too_large');
    const command = await inject('POST', '/commands/deposit', keys.writer, { accountId: 'R1', amount: '1', pad: 'x'.repeat(17 * 1024) });
    expectError(command, 413, 'body_too_large');
  });

  it.skipIf(skip || kind !== 'postgres')('chronicle keys create, list and revoke work on the database the servers use', async () => {
    const env = { ...process.env, DATABASE_URL: (place.target as { url: string }).url, LOG_LEVEL: 'warn', CHRONICLE_BOOTSTRAP_KEY: '' };
    const run = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI_MAIN, 'keys', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('exit', (code) => setImmediate(() => resolve({ code, stdout, stderr })));
    });
    const created = await run(['create', '--role', 'auditor', '--name', 'cli auditor']);
    expect(created.code, created.stderr).toBe(0);
    const made = JSON.parse(created.stdout) as { id: string; key: string; role: string; createdBy: string };
    expect(made).toMatchObject({ role: 'auditor', name: 'cli auditor', createdBy: expect.stringMatching(/^cli:/), revokedAt: null });
    expect((await inject('GET', '/streams/$all', made.key)).statusCode).toBe(200);
    const listed = await run(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(made.key.slice(21));
    expect((JSON.parse(listed.stdout) as { keys: { id: string }[] }).keys.map((k) => k.id)).toContain(made.id);
    const revoked = await run(['revoke', made.id]);
    expect(revoked.code).toBe(0);
    await expect.poll(async () => (await inject('GET', '/streams/$all', made.key)).statusCode, { timeout: 5_000, interval: 100 }).toBe(401);
    expect((await run(['revoke', '0000000000000000'])).code).toBe(1);
    expect((await run(['create', '--role', 'root', '--name', 'x'])).code).toBe(2);
  }, 60_000);

  it.skipIf(skip)('bootstrap: CHRONICLE_BOOTSTRAP_KEY is stored once and a restart with it changes nothing; without it the first start generates a key, once', async () => {
    const fresh = await newPlace(kind);
    try {
      const chosen = generateApiKey().key;
      for (let start = 0; start < 2; start++) {
        const log = logCapture();
        const rawAgain = await sqlAccessTo(fresh.target);
        const again = await open(rawAgain.target, { bootstrapKey: chosen }, { logger: { level: 'info' }, logStream: log.stream });
        try {
          const rows = await rawAgain.sql.query<{ id: string; role: string; created_by: string }>('SELECT id, role, created_by FROM api_keys');
          expect(rows).toEqual([{ id: chosen.slice(4, 20), role: 'admin', created_by: 'bootstrap' }]);
          expect((await again.app.inject({ url: '/keys', headers: bearer(chosen) })).statusCode).toBe(200);
          expect(log.lines.filter((l) => l['msg'] === 'stored CHRONICLE_BOOTSTRAP_KEY as the first admin key')).toHaveLength(start === 0 ? 1 : 0);
          expect(JSON.stringify(log.lines)).not.toContain(chosen.slice(21));
        } finally {
          await again.close();
          await rawAgain.close();
        }
      }
      // Keys exist: another chosen key is not added (the operator may have revoked the first on purpose).
      const log = logCapture();
      const other = generateApiKey().key;
      const third = await open(fresh.target, { bootstrapKey: other }, { logger: { level: 'info' }, logStream: log.stream });
      try {
        expectError(await third.app.inject({ url: '/keys', headers: bearer(other) }), 401, 'unauthorized');
        expect(log.lines.some((l) => l['level'] === 40 && String(l['msg']).includes('was not added'))).toBe(true);
      } finally {
        await third.close();
      }
    } finally {
      await fresh.drop();
    }

    const empty = await newPlace(kind);
    try {
      const shown: string[] = [];
      for (let start = 0; start < 2; start++) {
        const log = logCapture();
        const ledgerN = await open(empty.target, { onKeyGenerated: (key) => shown.push(key) }, { logger: { level: 'info' }, logStream: log.stream });
        try {
          expect(shown).toHaveLength(1); // the second start shows nothing
          expect(shown[0]).toMatch(/^chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
          expect((await ledgerN.app.inject({ url: '/projections', headers: bearer(shown[0]) })).statusCode).toBe(200);
          expect(JSON.stringify(log.lines)).not.toContain(shown[0]!.slice(21)); // handed over, not logged
        } finally {
          await ledgerN.close();
        }
      }
    } finally {
      await empty.drop();
    }
  }, 90_000);
});

describe('access control, store-independent parts (PGlite in memory)', () => {
  it('without onKeyGenerated the generated key is logged once at warn level', async () => {
    const log = logCapture();
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, auth: {}, logger: { level: 'warn' }, logStream: log.stream });
    try {
      const shown = log.lines.filter((l) => String(l['msg']).includes('shown this once'));
      expect(shown).toHaveLength(1);
      expect(shown[0]!['level']).toBe(40);
      const key = /chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(String(shown[0]!['msg']))![0];
      expect((await ledger.app.inject({ url: '/keys', headers: bearer(key) })).statusCode).toBe(200);
    } finally {
      await ledger.close();
    }
  });

  it('the insecure flag serves everything without a key, as anonymous, and warns at start', async () => {
    const log = logCapture();
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, insecureNoAuth: true, logger: { level: 'warn' }, logStream: log.stream });
    try {
      expect(log.lines.filter((l) => l['level'] === 40 && String(l['msg']).startsWith('AUTHENTICATION IS OFF'))).toHaveLength(1);
      expect((await ledger.app.inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: 'I1', owner: 'I', currency: 'EUR' } })).statusCode).toBe(201);
      expect((await ledger.store.readStream('account-I1', { count: 1, direction: 'forward' })).events[0]!.createdBy).toBe('anonymous');
      expect((await ledger.app.inject({ url: '/projections' })).statusCode).toBe(200);
      expect((await ledger.app.inject({ url: '/keys' })).statusCode).toBe(404); // no keys without authentication
    } finally {
      await ledger.close();
    }
  });

  it('429 rate_limited with Retry-After past the limit, per key; without a valid key, per address', async () => {
    const admin = generateApiKey().key;
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, auth: { bootstrapKey: admin, rateLimitPerMinute: 3 } });
    try {
      const get = (key?: string) => ledger.app.inject({ url: '/keys', headers: bearer(key) });
      for (let i = 0; i < 3; i++) expect((await get(admin)).statusCode).toBe(200);
      const limited = await get(admin);
      expectError(limited, 429, 'rate_limited');
      expect(limited.headers['retry-after']).toBe('20'); // 3 a minute: one token every 20 s
      expect(limited.json().error.details).toEqual({ retryAfterSeconds: 20 });
      // Bad keys are limited by the client address, before the 401: a flood of guesses is slowed too.
      for (let i = 0; i < 3; i++) expectError(await get(generateApiKey().key), 401, 'unauthorized');
      expectError(await get(), 429, 'rate_limited');
      // Public routes are not limited (load balancers probe /health from one address).
      for (let i = 0; i < 5; i++) expect((await ledger.app.inject({ url: '/health' })).statusCode).toBe(200);
    } finally {
      await ledger.close();
    }
  });

  it('a token bucket refills at the per-minute rate and never beyond a minute\'s allowance', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let i = 0; i < 60; i++) expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBe(1);
    now += 1_000;
    expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBe(1);
    expect(limiter.take('other')).toBe(0);
    now += 3_600_000;
    for (let i = 0; i < 60; i++) expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBeGreaterThan(0);
  });

  it('default deny: a route that declares no role is refused to every key, admin included', async () => {
    const db = await embeddedDatabase();
    const ledger = await createLedger({ store: db.target, processMetrics: false });
    const app = Fastify();
    try {
      const keys = new ApiKeys(new SqlApiKeyStore(db.sql));
      const { key } = await keys.create({ name: 'admin', role: 'admin', createdBy: 'test' });
      const declared: DeclaredRoute[] = [];
      accessControl(app, declared, { keys, limiter: new RateLimiter(1_000) });
      app.setErrorHandler(handleError);
      app.get('/undeclared', async () => ({ open: true }));
      app.get('/declared', { config: { access: 'reader' } }, async () => ({ open: true }));
      await app.ready();
      expect(declared.find((r) => r.method === 'GET' && r.url === '/undeclared')!.access).toBeUndefined();
      expectError(await app.inject({ url: '/undeclared', headers: bearer(key) }), 403, 'forbidden');
      expectError(await app.inject({ url: '/undeclared' }), 401, 'unauthorized');
      expect((await app.inject({ url: '/declared', headers: bearer(key) })).statusCode).toBe(200);
    } finally {
      await app.close();
      await ledger.close();
    }
  });

  it('configuration: the bootstrap key is checked (and never echoed), the insecure flag is 0 or 1, the rate limit a positive integer', () => {
    const good = generateApiKey().key;
    expect(loadConfig({ CHRONICLE_BOOTSTRAP_KEY: good })).toMatchObject({ bootstrapKey: good, authDisabledInsecure: false, rateLimitPerMinute: 60_000 });
    for (const bad of ['secret', `chr_0123456789abcdef_${'a'.repeat(43)}`, `chr_0123456789ABCDEF_${good.slice(21)}`, `${good.slice(0, 40)}`]) {
      let error: unknown;
      try {
        loadConfig({ CHRONICLE_BOOTSTRAP_KEY: bad });
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain(bad);
    }
    expect(loadConfig({ CHRONICLE_AUTH_DISABLED_INSECURE: '1' }).authDisabledInsecure).toBe(true);
    expect(() => loadConfig({ CHRONICLE_AUTH_DISABLED_INSECURE: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ CHRONICLE_AUTH_DISABLED_INSECURE: '1', CHRONICLE_BOOTSTRAP_KEY: good })).toThrow(ConfigError);
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: '120' }).rateLimitPerMinute).toBe(120);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: '0' })).toThrow(ConfigError);
  });
});
