// A stall of the log is reported, and only a real one. Since event store migration 7 the only transaction that
// can hold `$all` back is one holding the event log head (every append takes its positions there as its last
// step): a raw session here takes the head's row lock and keeps its transaction open, as a stuck writer or an
// operator's psql session would. Then, within the bound: /health says `degraded` (still 200: the process
// works) naming the blocking backend's pid, the gauge chronicle_log_head_held_seconds shows the age, and the
// log has a warning with the pid and age; a command meanwhile waits and is not lost. The session ends: health
// is `ok` again and the command completes. A long transaction that appends nothing is not a stall: health
// stays `ok`, and `$all` shows every commit made meanwhile (it used to hold every follower back, silently).
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, parseMetrics } from '../src/adapters/metrics/prometheus-text.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

const WARN_MS = 400;

describe.skipIf(!(await postgresAvailable()))('a transaction holding the event log head is reported', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let session: pg.Client;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    ledger = await createLedger({
      store: { kind: 'postgres', url: db.url, poolMax: 4 }, roles: ['ledger-api'], processMetrics: false, audit: { sealer: false },
      appendStall: { intervalMs: 100, warnMs: WARN_MS, warnEveryMs: 60_000 }, logger: { level: 'warn' }, logStream: stream,
    });
    session = new pg.Client({ connectionString: db.url, application_name: 'psql-by-hand' });
    await session.connect();
    expect((await ledger.app.inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: 'stall-1', owner: 'O', currency: 'EUR' } })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await session.end().catch(() => {});
    await ledger.close();
    await db.drop();
  });

  const health = async () => {
    const response = await ledger.app.inject({ method: 'GET', url: '/health' });
    return { code: response.statusCode, body: response.json() as { status: string; components: Record<string, Record<string, unknown>> } };
  };
  const heldSeconds = async () => metricValue(parseMetrics((await ledger.app.inject({ method: 'GET', url: '/metrics' })).body), 'chronicle_log_head_held_seconds') ?? -1;

  it('reports a held log head: health degraded with the pid, the gauge, a warning; the waiting command completes after', async () => {
    expect((await health()).body.status).toBe('ok');
    const pid = (session as unknown as { processID: number }).processID;
    await session.query('BEGIN');
    await session.query('UPDATE event_log_head SET position = position'); // the head's row lock, held

    const deposit = ledger.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: 'stall-1', amount: '5' } });
    await expect.poll(async () => (await health()).body.status, { timeout: 10_000, interval: 100 }).toBe('degraded');
    const { code, body } = await health();
    expect(code).toBe(200);
    expect(body.components['appendLock']).toMatchObject({ status: 'degraded', blockingPid: pid, applicationName: 'psql-by-hand' });
    expect(await heldSeconds()).toBeGreaterThanOrEqual(WARN_MS / 1000);
    const warning = lines.find((l) => l['blockingPid'] === pid);
    expect(warning?.['msg']).toMatch(new RegExp(`backend ${pid} \\(psql-by-hand`));
    expect(Number(warning?.['ageMs'])).toBeGreaterThanOrEqual(WARN_MS);

    await session.query('ROLLBACK');
    expect((await deposit).statusCode).toBe(201);
    await expect.poll(async () => (await health()).body.status, { timeout: 10_000, interval: 100 }).toBe('ok');
    expect(await heldSeconds()).toBeLessThan(WARN_MS / 1000);
  });

  it('does not call a long transaction that appends nothing a stall, and $all shows every commit meanwhile', async () => {
    await session.query('BEGIN');
    await session.query('SELECT pg_current_xact_id()');
    const before = (await ledger.store.readAll(0, 1_000))!.events.length;
    for (let i = 0; i < 3; i++) {
      expect((await ledger.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: 'stall-1', amount: '1' } })).statusCode).toBe(201);
    }
    await new Promise((r) => setTimeout(r, WARN_MS + 300));
    expect((await health()).body.status).toBe('ok');
    expect((await ledger.store.readAll(0, 1_000))!.events.length).toBe(before + 3);
    // Positive control, same session and wait: once it does take the log head, the monitor says so.
    await session.query('UPDATE event_log_head SET position = position');
    await expect.poll(async () => (await health()).body.status, { timeout: 10_000, interval: 100 }).toBe('degraded');
    await session.query('ROLLBACK');
    await expect.poll(async () => (await health()).body.status, { timeout: 10_000, interval: 100 }).toBe('ok');
  });
});
