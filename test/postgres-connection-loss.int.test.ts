// Connections lost under a held client (issue 10, item 2), one case at a time, on a throwaway database of
// the shared PostgreSQL: only this file's own backends are ever terminated (their pids, from
// pg_backend_pid() on connections this file opened).
// - a transaction whose connection goes during COMMIT rejects with CommitOutcomeUnknownError (an outage by
//   src/ports/unavailable.ts, so 503 `outcome_unknown` over HTTP), never a silent retry; the
//   broken client is not handed to anyone again: the pool serves the next statements;
// - a session (the lease's connection) whose backend is terminated: its `lost` signal aborts, and the
//   process does not die (before the fix: "Unhandled 'error' event" from the held client);
// - keepLease: the holder's backend terminated, the holder's signal aborts, the holder is waited for, and
//   the lease is taken again: one holder in pg_locks, onLost and onAcquired seen.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { keepLease } from '../src/adapters/event-store/sql/lease.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { CommitOutcomeUnknownError, isUnavailableError } from '../src/ports/unavailable.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

const servicesUp = await postgresAvailable();

describe.skipIf(!servicesUp)('a connection lost under a held client: no crash, no blind retry, the lease taken again', () => {
  let db: TestDatabase;
  let client: SqlClient;
  let admin: pg.Client;
  const terminate = (pid: number) => admin.query('SELECT pg_terminate_backend($1)', [pid]);

  beforeAll(async () => {
    db = await createTestDatabase();
    client = createPostgresClient({ connectionString: db.url, poolMax: 4 });
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    // At COMMIT, a deferred constraint trigger ends its own backend: the connection goes while COMMIT runs.
    await admin.query(`
      CREATE TABLE commit_probe (id int PRIMARY KEY, cut boolean NOT NULL);
      CREATE FUNCTION cut_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.cut THEN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER cut_at_commit AFTER INSERT ON commit_probe DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION cut_at_commit();`);
  });
  afterAll(async () => {
    await admin?.end();
    await client?.close();
    await db?.drop();
  });

  it('COMMIT cut off: CommitOutcomeUnknownError (an outage), and the pool goes on with fresh connections', async () => {
    const outcome = client.transaction(async (tx) => {
      await tx.query('INSERT INTO commit_probe VALUES (1, true)');
    });
    const error = await outcome.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(isUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain('may or may not have committed');
    // Every connection of the pool works: the broken one was discarded, not returned.
    const answers = await Promise.all(Array.from({ length: 8 }, () => client.query<{ one: number }>('SELECT 1 AS one')));
    expect(answers.every((rows) => rows[0]?.one === 1)).toBe(true);
    await client.transaction(async (tx) => tx.query('INSERT INTO commit_probe VALUES (2, false)'));
    expect((await client.query<{ n: number }>('SELECT count(*)::int AS n FROM commit_probe WHERE id = 2'))[0]?.n).toBe(1);
  });

  it('a session whose backend is terminated: lost aborts, nothing crashes', async () => {
    await client.session(async (session) => {
      const pid = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
      expect(session.lost?.aborted).toBe(false);
      await terminate(pid);
      await expect.poll(() => session.lost?.aborted, { timeout: 5_000 }).toBe(true);
      await expect(session.query('SELECT 1')).rejects.toSatisfy(isUnavailableError);
    }).catch(() => {});
    expect((await client.query<{ one: number }>('SELECT 1 AS one'))[0]?.one).toBe(1);
  });

  it('keepLease: the holder loses its connection, stops, and takes the lease again; one holder', async () => {
    const stop = new AbortController();
    const events: string[] = [];
    const pids: number[] = [];
    let running = 0;
    const kept = keepLease(client, 'connection-loss-test', {
      signal: stop.signal, checkIntervalMs: 100,
      onAcquired: () => events.push('acquired'),
      onLost: () => events.push('lost'),
    }, async (held) => {
      running += 1;
      expect(running).toBe(1); // never two holders in this process at once
      const rows = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((classid::bigint << 32) | objid::bigint) = hashtext('chronicle-lease:connection-loss-test')::bigint`);
      pids.push(...rows.rows.map((r) => r.pid));
      await new Promise<void>((resolve) => held.addEventListener('abort', () => resolve(), { once: true }));
      running -= 1;
    });
    await expect.poll(() => pids.length, { timeout: 5_000 }).toBe(1);
    await terminate(pids[0]!);
    await expect.poll(() => events, { timeout: 10_000 }).toEqual(['acquired', 'lost', 'acquired']);
    await expect.poll(() => pids.length, { timeout: 5_000 }).toBe(2);
    expect(pids[1]).not.toBe(pids[0]);
    stop.abort();
    await kept;
    expect(running).toBe(0);
  });
});
