// Structured JSON logs carry the correlation id from the command (the request's X-Correlation-Id) to its
// events (metadata.correlationId), to the relay that publishes them and the projection that applies them:
// one id to grep for across every process of the flow.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';
import { pgliteTarget } from './support/stores.js';

const lines: Record<string, unknown>[] = [];
let ledger: Ledger;
beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, logger: { level: 'debug' }, logStream: stream });
});
afterAll(async () => {
  await ledger?.close();
});

describe('logs', () => {
  it('one correlation id from the request through the events to the relay and the projection, as JSON lines', async () => {
    const id = 'trace-7f3a9c';
    const post = (url: string, payload: object) => ledger.app.inject({ method: 'POST', url, payload, headers: { 'x-correlation-id': id } });
    expect((await post('/commands/create-account', { accountId: 'LOG1', owner: 'L', currency: 'EUR' })).statusCode).toBe(201);
    const deposit = await post('/commands/deposit', { accountId: 'LOG1', amount: '10' });
    expect(deposit.headers['x-correlation-id']).toBe(id);
    const { globalPosition, eventIds } = deposit.json() as { globalPosition: number; eventIds: string[] };
    expect((await ledger.app.inject({ url: `/accounts/LOG1/balance?minPosition=${globalPosition}` })).json().freshness.status).toBe('reached');

    const [event] = (await ledger.store.readStream('account-LOG1', { fromVersion: 2, count: 1, direction: 'forward' })).events;
    expect(event!.metadata.correlationId).toBe(id);
    const about = (message: string) => lines.filter((l) => l['msg'] === message && l['eventId'] === eventIds[0]);
    await expect.poll(() => about('published').length).toBe(1);
    expect(about('published')[0]).toMatchObject({ role: 'relay', correlationId: id, globalPosition });
    expect(about('projected')).toEqual([expect.objectContaining({ role: 'read-processor', projection: 'accounts', correlationId: id, outcome: 'applied' })]);
    // The request's own lines carry it too.
    expect(lines.some((l) => l['correlationId'] === id && l['msg'] === 'request completed')).toBe(true);
  });
});

// Per-request lines are `debug` (issue 13): at the default level (info) a burst of requests adds no log line,
// so the start-up banner cannot scroll away; at debug each request has its two lines.
describe('per-request logs', () => {
  it('a burst of 1000 requests adds no line at info; debug shows incoming request and request completed', async () => {
    const { generateApiKey } = await import('../src/application/api-keys.js');
    const captured: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) captured.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const key = generateApiKey().key;
    const quiet = await createLedger({
      store: await pgliteTarget(), processMetrics: false, logger: { level: 'info' }, logStream: stream,
      auth: { bootstrapKey: key, rateLimitPerMinute: 1_000_000, authFailuresPerMinute: 1_000_000 },
    });
    try {
      const authorization = `Bearer ${key}`;
      expect((await quiet.app.inject({ method: 'POST', url: '/commands/create-account', headers: { authorization }, payload: { accountId: 'Q1', owner: 'Q', currency: 'EUR' } })).statusCode).toBe(201);
      await new Promise((r) => setTimeout(r, 200)); // start-up lines (leases) settle
      const before = captured.length;
      const statuses = new Map<number, number>();
      for (let i = 0; i < 1000; i++) {
        // Reads, writes, unknown accounts, a missing key and a bad body: the everyday mix.
        const request = [
          { url: '/accounts/Q1/balance', headers: { authorization } },
          // A write every 60th request: PGlite commits are slow on a busy 2-core machine.
          i % 60 === 1 ? { method: 'POST' as const, url: '/commands/deposit', headers: { authorization }, payload: { accountId: 'Q1', amount: '1' } } : { url: '/accounts/Q1/history', headers: { authorization } },
          { url: '/accounts/NOPE/balance', headers: { authorization } },
          { url: '/accounts' },
          { method: 'POST' as const, url: '/commands/deposit', headers: { authorization }, payload: { accountId: 'Q1', amount: 1.5 } },
          { url: '/health' },
        ][i % 6]!;
        const { statusCode } = await quiet.app.inject(request);
        statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
      }
      expect([...statuses.keys()].sort()).toEqual([200, 201, 400, 401, 404]);
      expect(captured.slice(before).map((l) => l['msg'])).toEqual([]);
    } finally {
      await quiet.close();
    }
    // The debug ledger of the test above logs both lines of one request (joined by its request id).
    await ledger.app.inject({ url: '/health?probe=debug-lines' });
    const incoming = lines.find((l) => l['msg'] === 'incoming request' && (l['req'] as { url?: string } | undefined)?.url === '/health?probe=debug-lines');
    expect(incoming).toMatchObject({ level: 20 });
    expect(lines.filter((l) => l['reqId'] === incoming!['reqId']).map((l) => [l['level'], l['msg']])).toEqual([[20, 'incoming request'], [20, 'request completed']]);
  }, 60_000);
});
