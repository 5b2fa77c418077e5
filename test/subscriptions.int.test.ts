// Subscriptions over Server-Sent Events, through a real listening server read with fetch: catch-up then
// live equals GET /streams/$all (no gap, no duplicate), Last-Event-ID resumes exactly, one stream from a
// version, errors before the stream starts, and a client that leaves (or app.close()) stops the server loop.
// On the embedded store; the last suite writes from several concurrent clients on PostgreSQL.
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { activeFollowers } from '../src/application/subscription.js';
import { handleError } from '../src/http/errors.js';
import { subscriptionRoutes } from '../src/http/subscription-routes.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { SseReader } from './support/sse.js';
import { pgliteTarget } from './support/stores.js';

let base = '';
const controllers: AbortController[] = [];

async function subscribe(path: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  controllers.push(controller);
  const response = await fetch(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  return { response, controller, sse: response.ok ? new SseReader(response) : undefined };
}

afterEach(async () => {
  for (const c of controllers.splice(0)) c.abort();
  // Every server loop ends once its client is gone.
  await expect.poll(() => activeFollowers(), { timeout: 2_000, interval: 20 }).toBe(0);
});

// ---- the embedded store ---------------------------------------------------------------------------------

let ledger: Ledger;
beforeAll(async () => {
  // No sealer: it follows $all too, and these tests count the followers SSE clients leave running.
  ledger = await createLedger({ store: await pgliteTarget(), roles: ['ledger-api'], audit: { sealer: false } });
  await ledger.app.listen({ port: 0, host: '127.0.0.1' });
  const address = ledger.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await ledger.close();
});

const post = (l: Ledger, url: string, payload: unknown) =>
  l.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });

async function command(l: Ledger, url: string, payload: unknown) {
  const response = await post(l, url, payload);
  expect(response.statusCode, response.body).toBe(201);
}

async function openAccount(l: Ledger, accountId: string, deposits: number) {
  await command(l, '/commands/create-account', { accountId, owner: 'Ada', currency: 'EUR' });
  for (let i = 0; i < deposits; i++) await command(l, '/commands/deposit', { accountId, amount: String(10 + i) });
}

/** All of GET /streams/$all, page by page. */
async function readAllHttp(l: Ledger, from = 0): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for (let cursor = from; ;) {
    const page = (await l.app.inject({ method: 'GET', url: `/streams/$all?from=${cursor}&count=1000` })).json();
    events.push(...page.events);
    if (page.events.length === 0) return events;
    cursor = page.lastPosition;
  }
}

const key = (e: RecordedEvent) => `${e.globalPosition}:${e.eventId}`;

describe('GET /subscribe/$all', () => {
  it('catch-up then live: exactly the sequence of GET /streams/$all, with SSE ids and headers', async () => {
    await openAccount(ledger, 'A1', 3);
    await openAccount(ledger, 'A2', 2);
    const before = await readAllHttp(ledger);

    const { response, sse } = await subscribe('/subscribe/$all');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(response.headers.get('x-correlation-id')).toBeTruthy();
    await sse!.take(before.length);

    // Live: one at a time, then several at once (the group commit batches them).
    await command(ledger, '/commands/deposit', { accountId: 'A1', amount: '5' });
    await command(ledger, '/commands/transfer', { fromAccountId: 'A1', toAccountId: 'A2', amount: '7' });
    await Promise.all(Array.from({ length: 10 }, (_, i) => command(ledger, '/commands/deposit', { accountId: i % 2 ? 'A1' : 'A2', amount: String(i + 1) })));
    await openAccount(ledger, 'A3', 1);
    const all = await readAllHttp(ledger);
    expect(all.length).toBe(before.length + 1 + 2 + 10 + 2);

    // Nothing more arrives than these: a marker written after them comes next, in order (the positive control:
    // the stream is live, so an extra or a duplicate would have shown up before it).
    await sse!.take(all.length);
    await command(ledger, '/commands/deposit', { accountId: 'A3', amount: '1' });
    const withMarker = await readAllHttp(ledger);
    expect(withMarker.slice(0, all.length)).toEqual(all);
    const everything = await sse!.take(withMarker.length);
    expect(everything.map((m) => m.body)).toEqual(withMarker);
    const received = everything.slice(0, all.length);
    expect(received.map((m) => m.body)).toEqual(all);
    expect(received.map((m) => m.id)).toEqual(all.map((e) => String(e.globalPosition)));
    expect(new Set(received.map((m) => m.event))).toEqual(new Set(['event']));
    expect(new Set(received.map((m) => key(m.body))).size).toBe(all.length);
  });

  it('from=N starts after position N (exclusive), like /streams/$all?from=N', async () => {
    await openAccount(ledger, 'F1', 3);
    const all = await readAllHttp(ledger);
    const from = all[all.length - 4]!.globalPosition;
    const { sse } = await subscribe(`/subscribe/$all?from=${from}`);
    const received = await sse!.take(3);
    expect(received.map((m) => m.body)).toEqual(await readAllHttp(ledger, from));
    expect(received.map((m) => m.body)).toEqual(all.slice(-3));
  });

  it('reconnect with Last-Event-ID (which wins over from): the concatenation is $all, no gap, no duplicate', async () => {
    await openAccount(ledger, 'R1', 4);
    const first = await subscribe('/subscribe/$all?from=0');
    const head = (await first.sse!.take(5)).slice(0, 5);
    first.controller.abort();
    await expect.poll(() => activeFollowers(), { timeout: 2_000, interval: 20 }).toBe(0);

    // Written while disconnected.
    await command(ledger, '/commands/deposit', { accountId: 'R1', amount: '1' });
    await openAccount(ledger, 'R2', 2);
    const lastId = head.at(-1)!.id!;
    const second = await subscribe('/subscribe/$all?from=0', { 'last-event-id': lastId });
    expect(second.response.status).toBe(200);
    const all = await readAllHttp(ledger);
    const tail = await second.sse!.take(all.length - 5);

    // Written after reconnecting.
    await command(ledger, '/commands/withdraw', { accountId: 'R1', amount: '1' });
    const after = await readAllHttp(ledger);
    const tailAfter = await second.sse!.take(after.length - 5);
    expect(tail.length).toBe(all.length - 5);
    const joined = [...head, ...tailAfter].map((m) => m.body);
    expect(joined.map(key)).toEqual(after.map(key));
    expect(joined).toEqual(after);
  });

  it('an empty Last-Event-ID is ignored (EventSource before its first id); `from` applies', async () => {
    await openAccount(ledger, 'E1', 1);
    const all = await readAllHttp(ledger);
    const from = all.at(-2)!.globalPosition;
    const { sse } = await subscribe(`/subscribe/$all?from=${from}`, { 'last-event-id': '' });
    expect((await sse!.take(1)).map((m) => m.body)).toEqual(all.slice(-1));
  });

  it('delivers everything, in order, to a client that does not read for a while (backpressure)', async () => {
    const { sse } = await subscribe(`/subscribe/$all?from=${(await readAllHttp(ledger)).at(-1)?.globalPosition ?? 0}`);
    const blob = 'x'.repeat(2_000);
    for (let i = 0; i < 15; i++) {
      const events = Array.from({ length: 100 }, (_, j) => ({ type: 'Blob', data: { i, j, blob } }));
      const response = await post(ledger, '/streams/bulk-1/events', events);
      expect(response.statusCode).toBe(201);
    }
    const received = await sse!.take(1_500, 10_000);
    expect(received.map((m) => m.body.streamVersion)).toEqual(Array.from({ length: 1_500 }, (_, i) => i + 1));
  });
});

describe('GET /subscribe/streams/:streamId', () => {
  it('catch-up from version 2, then live, only that stream; reconnect with Last-Event-ID resumes at +1', async () => {
    await openAccount(ledger, 'X', 3);
    await openAccount(ledger, 'Other', 1);
    const first = await subscribe('/subscribe/streams/account-X?from=2');
    const caughtUp = await first.sse!.take(3);
    expect(caughtUp.map((m) => m.id)).toEqual(['2', '3', '4']);
    expect(caughtUp.map((m) => m.body.streamVersion)).toEqual([2, 3, 4]);

    await command(ledger, '/commands/deposit', { accountId: 'Other', amount: '1' });
    await command(ledger, '/commands/deposit', { accountId: 'X', amount: '1' });
    await command(ledger, '/commands/transfer', { fromAccountId: 'X', toAccountId: 'Other', amount: '2' });
    const live = await first.sse!.take(5);
    expect(live.map((m) => m.id)).toEqual(['2', '3', '4', '5', '6']);
    expect(live.every((m) => m.body.streamId === 'account-X')).toBe(true);
    first.controller.abort();

    await command(ledger, '/commands/withdraw', { accountId: 'X', amount: '1' });
    const second = await subscribe('/subscribe/streams/account-X?from=1', { 'last-event-id': '6' });
    await command(ledger, '/commands/deposit', { accountId: 'X', amount: '3' });
    const resumed = await second.sse!.take(2);
    expect(resumed.map((m) => m.id)).toEqual(['7', '8']);

    const stream = (await ledger.app.inject({ method: 'GET', url: '/streams/account-X?from=2' })).json();
    expect([...live, ...resumed].map((m) => m.body)).toEqual(stream.events);
    // Nothing more than these two: a marker written after them comes next (the positive control).
    await command(ledger, '/commands/deposit', { accountId: 'X', amount: '4' });
    expect((await second.sse!.take(3)).map((m) => m.id)).toEqual(['7', '8', '9']);
  });

  it('a stream that does not exist yet: the connection stays open and its events arrive when written', async () => {
    const { response, sse } = await subscribe('/subscribe/streams/account-LATER');
    expect(response.status).toBe(200);
    // Nothing arrives while the stream does not exist, though the feed is live: a subscriber of $all (the
    // positive control) receives an event written elsewhere meanwhile.
    const head = (await readAllHttp(ledger)).at(-1)?.globalPosition ?? 0;
    const control = await subscribe(`/subscribe/$all?from=${head}`);
    expect((await post(ledger, '/streams/not-later/events', [{ type: 'Noted', data: {} }])).statusCode).toBe(201);
    expect((await control.sse!.take(1)).map((m) => m.body.streamId)).toEqual(['not-later']);
    expect(sse!.messages).toHaveLength(0);
    await openAccount(ledger, 'LATER', 1);
    const received = await sse!.take(2);
    expect(received.map((m) => [m.id, m.body.type])).toEqual([['1', 'AccountCreated'], ['2', 'MoneyDeposited']]);
  });
});

describe('refusals come before the stream, as JSON errors', () => {
  const cases: [string, Record<string, string>, number, string][] = [
    ['/subscribe/$all?from=999999999', {}, 404, 'position_not_found'],
    ['/subscribe/$all', { 'last-event-id': '999999999' }, 404, 'position_not_found'],
    ['/subscribe/$all?from=abc', {}, 400, 'validation_failed'],
    ['/subscribe/$all?from=-1', {}, 400, 'validation_failed'],
    ['/subscribe/$all?from=1234567890123456', {}, 400, 'validation_failed'],
    ['/subscribe/$all?count=5', {}, 400, 'validation_failed'],
    ['/subscribe/$all', { 'last-event-id': 'abc' }, 400, 'validation_failed'],
    ['/subscribe/streams/account-X?from=x', {}, 400, 'validation_failed'],
    ['/subscribe/streams/account-X', { 'last-event-id': '1.5' }, 400, 'validation_failed'],
    ['/subscribe/streams/-bad', {}, 400, 'validation_failed'],
  ];
  it.each(cases)('%s %j -> %i %s', async (path, headers, status, code) => {
    const { response } = await subscribe(path, headers);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await response.json();
    expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
    expect(activeFollowers()).toBe(0);
  });
});

describe('lifecycle', () => {
  it('a client that disconnects stops the server loop', async () => {
    const a = await subscribe('/subscribe/$all');
    const b = await subscribe('/subscribe/streams/account-A1');
    await a.sse!.take(1);
    await b.sse!.take(1);
    expect(activeFollowers()).toBe(2);
    a.controller.abort();
    await expect.poll(() => activeFollowers(), { timeout: 2_000, interval: 10 }).toBe(1);
    b.controller.abort();
    await expect.poll(() => activeFollowers(), { timeout: 2_000, interval: 10 }).toBe(0);
  });

  it('app.close() ends open subscriptions promptly (and the client sees the stream end)', async () => {
    // The plugin on an app of its own over the same store: closing it must not wait for the clients.
    const app = Fastify();
    await app.register(subscriptionRoutes, { store: ledger.store });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const controller = new AbortController();
    controllers.push(controller);
    const url = `http://127.0.0.1:${address.port}`;
    const sse = new SseReader(await fetch(`${url}/subscribe/$all`, { signal: controller.signal }));
    const sse2 = new SseReader(await fetch(`${url}/subscribe/streams/nothing-yet`, { signal: controller.signal }));
    await sse.take(1);
    await expect.poll(() => activeFollowers(), { timeout: 2_000, interval: 10 }).toBe(2);
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await sse.until(() => sse.ended, 2_000, 'end of stream');
    await sse2.until(() => sse2.ended, 2_000, 'end of stream');
    expect(activeFollowers()).toBe(0);
  });

  it('heartbeat comments on an idle stream; at most subscriptionsMax open (503 overloaded beyond)', async () => {
    const app = Fastify();
    app.setErrorHandler(handleError);
    await app.register(subscriptionRoutes, { store: ledger.store, heartbeatIntervalMs: 40, subscriptionsMax: 1, pollIntervalMs: 20 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      const url = `http://127.0.0.1:${address.port}`;
      const controller = new AbortController();
      controllers.push(controller);
      const sse = new SseReader(await fetch(`${url}/subscribe/streams/idle-stream`, { signal: controller.signal }));
      await sse.until(() => sse.comments.filter((c) => c === 'ping').length >= 2, 2_000, 'two pings');
      expect(sse.messages).toHaveLength(0);

      const refused = await fetch(`${url}/subscribe/$all`);
      expect(refused.status).toBe(503);
      expect((await refused.json()).error.code).toBe('overloaded');
    } finally {
      await app.close();
    }
  });

  it('a store that fails mid-stream ends the response (the client reconnects with Last-Event-ID)', async () => {
    const [first] = (await ledger.store.readAll(0, 1))!.events;
    let reads = 0;
    const failing = {
      readAll: async (after: number, count: number) => {
        if (++reads > 1) throw new Error('connection lost');
        return after === 0 ? { events: [first!], lastPosition: first!.globalPosition } : ledger.store.readAll(after, count);
      },
    } as unknown as Ledger['store'];
    const app = Fastify();
    await app.register(subscriptionRoutes, { store: failing, pollIntervalMs: 10 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      const controller = new AbortController();
      controllers.push(controller);
      const sse = new SseReader(await fetch(`http://127.0.0.1:${address.port}/subscribe/$all`, { signal: controller.signal }));
      await sse.until(() => sse.ended, 2_000, 'end of stream');
      expect(sse.events().map((m) => m.body)).toEqual([first]);
      expect(activeFollowers()).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('is published in the OpenAPI document under the subscriptions tag', async () => {
    const doc = (await ledger.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.paths['/subscribe/$all'].get.tags).toEqual(['subscriptions']);
    expect(doc.paths['/subscribe/streams/{streamId}'].get.tags).toEqual(['subscriptions']);
    expect(Object.keys(doc.paths['/subscribe/$all'].get.responses['200'].content)).toEqual(['text/event-stream']);
  });
});

// ---- PostgreSQL: concurrent writers, two processes' worth of pools ----------------------------------

describe.skipIf(!(await postgresAvailable()))('on PostgreSQL, with concurrent writers', () => {
  let db: TestDatabase;
  let writerA: Ledger;
  let writerB: Ledger;
  beforeAll(async () => {
    db = await createTestDatabase();
    writerA = await createLedger({ store: { kind: 'postgres', url: db.url, poolMax: 8 }, roles: ['ledger-api'], audit: { sealer: false } });
    // A second ledger on the same database: another process, its own pool, cache and group commit.
    writerB = await createLedger({ store: { kind: 'postgres', url: db.url, poolMax: 8 }, roles: ['ledger-api'], audit: { sealer: false } });
    await writerA.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await writerA?.close();
    await writerB?.close();
    await db?.drop();
  });

  it('the subscription sequence equals $all with nothing skipped', async () => {
    const address = writerA.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const url = `http://127.0.0.1:${address.port}`;
    const accounts = Array.from({ length: 8 }, (_, i) => `P${i}`);
    for (const id of accounts) await command(writerA, '/commands/create-account', { accountId: id, owner: 'Ada', currency: 'EUR' });
    // Created up front: two concurrent first appends to one stream race (see the report), not the point here.
    for (let s = 0; s < 3; s++) expect((await post(writerA, `/streams/shared-${s}/events`, [{ type: 'Opened', data: {} }])).statusCode).toBe(201);

    const controller = new AbortController();
    controllers.push(controller);
    const sse = new SseReader(await fetch(`${url}/subscribe/$all`, { signal: controller.signal }));
    await sse.take(accounts.length + 3);

    // 8 clients, each on its own account and alternately through either ledger (so commits of the two
    // pools interleave and can finish out of position order), plus raw appends to a shared stream.
    await Promise.all(accounts.map(async (id, i) => {
      for (let k = 0; k < 15; k++) {
        const via = (i + k) % 2 === 0 ? writerA : writerB;
        const response = await post(via, '/commands/deposit', { accountId: id, amount: String(k + 1) });
        expect(response.statusCode, response.body).toBe(201);
        if (k % 5 === 0) expect((await post(via, `/streams/shared-${i % 3}/events`, [{ type: 'Noted', data: { id, k } }])).statusCode).toBe(201);
      }
    }));

    const all = await readAllHttp(writerA);
    expect(all.length).toBeGreaterThan(accounts.length + 8 * 3);
    // Nothing more than $all arrives: a marker written after it comes next, in order (the positive control).
    await sse.take(all.length, 10_000);
    expect((await post(writerA, '/streams/shared-0/events', [{ type: 'Marker', data: {} }])).statusCode).toBe(201);
    const withMarker = await readAllHttp(writerA);
    expect(withMarker.slice(0, all.length)).toEqual(all);
    const everything = await sse.take(withMarker.length, 10_000);
    expect(everything.map((m) => key(m.body))).toEqual(withMarker.map(key));
    const received = everything.slice(0, all.length);
    expect(received.map((m) => key(m.body))).toEqual(all.map(key));
    expect(received.map((m) => m.id)).toEqual(all.map((e) => String(e.globalPosition)));
  });
});
