// Issue 10, item 2: every role survives a PostgreSQL restart (-m fast and -m immediate) and a NATS restart
// under load, with no process restart, takes its lease again and resumes. Before the fix the sealer's
// ledger-api, the relay and the read processor died within half a second of the restart ("Unhandled 'error'
// event … 57P01"): a client held for a lease or a transaction had no 'error' listener.
//
// How it is shown. The test starts a PostgreSQL of its own (initdb + pg_ctl on a free port from 55432, as
// the `postgres` user: test/support/private-postgres.ts) and a nats-server of its own (its own port and -sd
// directory); the shared servers on 5432 and 4222 are never touched, and only processes this test started
// are ever signalled (by their own handles). On them, the CLI as it is deployed (test/support/cli-process.ts):
// two `ledger-api` (both with the sealer on: one seals, one stands by), `query-api`, `relay` and
// `read-processor` on one database and JetStream stream, and the all-in-one `start` on a second database
// and stream. 16 clients send 1-unit deposits (14 alternating between the two ledger APIs, 2 to `start`),
// each with an Idempotency-Key of its own, retried with the same key after a 503 or a broken connection
// until it is accepted: so every deposit lands exactly once whatever the restarts did to it in flight.
// Meanwhile: `pg_ctl restart -m fast`, commands succeed again; `-m immediate`, again; nats-server stopped
// and started on its directory, again. Then:
// - every process is still running;
// - no answer but 201 and 503 `unavailable` (with Retry-After) was ever seen: no 500, nothing else;
// - the event store holds each deposit exactly once (events = accounts + deposits accepted; the per-account
//   sum of deposit events equals what the clients were told was accepted): money is conserved;
// - the relay published everything: each JetStream stream holds as many messages as its $all has events,
//   and its last message is $all's last event;
// - the read model caught up: each balance read on query-api (and on `start`) with ?minPosition=<the last
//   position> is 'reached' and equals the accepted deposits;
// - leases were taken again, once each: for every lease (sealer, relay, read processor) pg_locks shows
//   exactly one granted holder on each database, and exactly one of the two ledger APIs says it seals;
// - `chronicle verify` with the public key alone reports no finding on either database.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_AUTHORIZATION, spawnCli, type CliProcess } from './support/cli-process.js';
import { freePort, natsAdmin, NATS_SERVER_BIN, natsServerBinaryAvailable, startPrivateNatsServer, type PrivateNatsServer } from './support/nats.js';
import { freePostgresPort, privatePostgresAvailable, startPrivatePostgres, type PrivatePostgres } from './support/private-postgres.js';
import { CLI_MAIN } from './support/cli-main.js';

const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';
const natsBinary = natsServerBinaryAvailable();
if (REQUIRED && !natsBinary) throw new Error(`nats-server is required (CHRONICLE_REQUIRE_SERVICES=1) but ${NATS_SERVER_BIN} does not run`);
const available = privatePostgresAvailable() && natsBinary;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLIENTS = 16;
const MAIN_ACCOUNTS = ['RS1', 'RS2', 'RS3', 'RS4'];
const START_ACCOUNTS = ['RT1', 'RT2'];

describe.skipIf(!available)('every role survives PostgreSQL and NATS restarts under load, takes its lease again, and resumes', () => {
  let pgServer: PrivatePostgres;
  let nats: PrivateNatsServer;
  let natsPort: number;
  const natsDir = mkdtempSync(join(tmpdir(), 'chronicle-nats-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'chronicle-restart-'));
  let mainUrl: string;
  let startUrl: string;
  const procs: Record<'api1' | 'api2' | 'query' | 'relay' | 'processor' | 'all', CliProcess> = {} as never;

  beforeAll(async () => {
    pgServer = await startPrivatePostgres(await freePostgresPort());
    mainUrl = await pgServer.createDatabase('chronicle');
    startUrl = await pgServer.createDatabase('chronicle_all');
    natsPort = await freePort();
    nats = await startPrivateNatsServer(natsDir, natsPort);
    const common = {
      NATS_URL: nats.url, LOG_LEVEL: 'warn', PG_POOL_MAX: '8', CHRONICLE_DATA_DIR: dataDir,
      // Acks lost with the NATS restart come back after this, not after 10 s.
      NATS_ACK_WAIT_MS: '4000', CHRONICLE_CHECKPOINT_INTERVAL_MS: '200',
    };
    const main = { ...common, DATABASE_URL: mainUrl, NATS_STREAM: 'restart-main', NATS_SUBJECT_PREFIX: 'main.events' };
    // The first creates the signing key in dataDir; the rest load it.
    procs.api1 = spawnCli('ledger-api', await freePort(), main);
    await procs.api1.healthy(60_000);
    procs.api2 = spawnCli('ledger-api', await freePort(), main);
    procs.query = spawnCli('query-api', await freePort(), main);
    procs.relay = spawnCli('relay', await freePort(), main);
    procs.processor = spawnCli('read-processor', await freePort(), main);
    procs.all = spawnCli('start', await freePort(), { ...common, DATABASE_URL: startUrl, NATS_STREAM: 'restart-all', NATS_SUBJECT_PREFIX: 'all.events' });
    await Promise.all(Object.values(procs).map((p) => p.healthy(90_000)));
  }, 180_000);

  afterAll(async () => {
    for (const proc of Object.values(procs)) await proc?.signal('SIGKILL');
    await nats?.stop();
    pgServer?.destroy();
    rmSync(natsDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const call = async (base: string, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: CLI_AUTHORIZATION, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
  };

  it('a PostgreSQL restart (fast, then immediate) and a NATS restart: nothing dies, nothing is lost or doubled, leases taken again', async () => {
    for (const id of MAIN_ACCOUNTS) expect((await call(procs.api1.base, 'POST', '/commands/create-account', { accountId: id, owner: 'R', currency: 'EUR' })).status).toBe(201);
    for (const id of START_ACCOUNTS) expect((await call(procs.all.base, 'POST', '/commands/create-account', { accountId: id, owner: 'R', currency: 'EUR' })).status).toBe(201);

    // The load: each deposit is retried with its own key until accepted; anything but 201 or 503 is kept.
    const accepted = new Map<string, number>();
    const unexpected: string[] = [];
    let acceptedTotal = 0;
    const lastPosition = { main: 0, all: 0 };
    let stopping = false;
    const client = async (n: number) => {
      for (let i = 0; !stopping; i++) {
        const toStart = n >= CLIENTS - 2;
        const accounts = toStart ? START_ACCOUNTS : MAIN_ACCOUNTS;
        const accountId = accounts[(n + i) % accounts.length]!;
        const key = `restart-${n}-${i}`;
        for (let attempt = 0; ; attempt++) {
          const base = toStart ? procs.all.base : (n + i + attempt) % 2 === 0 ? procs.api1.base : procs.api2.base;
          let answer: Awaited<ReturnType<typeof call>> | undefined;
          try {
            answer = await call(base, 'POST', '/commands/deposit', { accountId, amount: '1' }, { 'idempotency-key': key });
          } catch {
            // The API itself did not answer (it must stay up: checked at the end); try again.
          }
          if (answer?.status === 201) {
            accepted.set(accountId, (accepted.get(accountId) ?? 0) + 1);
            acceptedTotal += 1;
            const position = answer.json().globalPosition as number;
            if (toStart) lastPosition.all = Math.max(lastPosition.all, position);
            else lastPosition.main = Math.max(lastPosition.main, position);
            break;
          }
          // A deposit cut off mid-commit by the restart answers outcome_unknown (its retry, with the same key, tells).
          if (answer && !(answer.status === 503 && ['unavailable', 'outcome_unknown'].includes(answer.json().error.code) && answer.headers.get('retry-after'))) {
            unexpected.push(`${answer.status} ${answer.text.slice(0, 300)}`);
          }
          if (attempt > 200) throw new Error(`deposit ${key} never accepted`);
          await sleep(100);
        }
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
    load.catch(() => {}); // awaited below; a failure before that is reported by the step that saw it
    const acceptsAgain = async (what: string) => {
      const before = acceptedTotal;
      const end = Date.now() + 30_000;
      while (acceptedTotal < before + 3 * CLIENTS) {
        if (Date.now() > end) {
          const dead = Object.entries(procs).filter(([, p]) => !p.running()).map(([name, p]) => `${name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.output().slice(-1_500)}`);
          stopping = true;
          throw new Error(`commands were not accepted again within 30 s after ${what}${dead.length > 0 ? `\n${dead.join('\n')}` : ''}`);
        }
        await sleep(50);
      }
    };

    await sleep(1_500);
    await acceptsAgain('the start');
    pgServer.restart('fast');
    await acceptsAgain('pg_ctl restart -m fast');
    pgServer.restart('immediate');
    await acceptsAgain('pg_ctl restart -m immediate');
    await nats.stop();
    await sleep(500);
    nats = await startPrivateNatsServer(natsDir, natsPort);
    await acceptsAgain('the NATS restart');
    await sleep(1_000);
    stopping = true;
    await load;

    // Nothing died, and no answer was a bug.
    for (const [name, proc] of Object.entries(procs)) expect(proc.running(), `${name} exited:\n${proc.output().slice(-3_000)}`).toBe(true);
    expect(unexpected).toEqual([]);

    // The event store holds each deposit once: money is conserved.
    const stored = async (url: string, accounts: string[]) => {
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const { rows } = await db.query<{ stream_id: string; deposits: string; amount: string }>(
          `SELECT stream_id, count(*) FILTER (WHERE event_type = 'MoneyDeposited')::text AS deposits,
                  coalesce(sum((event_data->>'amount')::numeric) FILTER (WHERE event_type = 'MoneyDeposited'), 0)::text AS amount
             FROM events GROUP BY stream_id ORDER BY stream_id`);
        const total = Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n);
        return { total, byAccount: Object.fromEntries(rows.filter((r) => accounts.some((a) => r.stream_id.endsWith(a))).map((r) => [r.stream_id.replace(/^account-/, ''), { deposits: Number(r.deposits), amount: Number(r.amount) }])) };
      } finally {
        await db.end();
      }
    };
    for (const [url, accounts] of [[mainUrl, MAIN_ACCOUNTS], [startUrl, START_ACCOUNTS]] as const) {
      const { total, byAccount } = await stored(url, [...accounts]);
      const deposits = accounts.reduce((n, a) => n + (accepted.get(a) ?? 0), 0);
      expect(total).toBe(accounts.length + deposits);
      for (const a of accounts) expect(byAccount[a], a).toEqual({ deposits: accepted.get(a) ?? 0, amount: accepted.get(a) ?? 0 });
    }

    // The read model caught up, on query-api and on start.
    for (const [base, accounts, position] of [[procs.query.base, MAIN_ACCOUNTS, lastPosition.main], [procs.all.base, START_ACCOUNTS, lastPosition.all]] as const) {
      for (const a of accounts) {
        await expect.poll(async () => {
          const answer = await call(base, 'GET', `/accounts/${a}/balance?minPosition=${position}&maxWaitMs=2000`).catch(() => null);
          return answer?.status === 200 ? { balance: answer.json().balance, freshness: answer.json().freshness.status } : answer?.status;
        }, { timeout: 30_000, interval: 250 }).toEqual({ balance: String(accepted.get(a) ?? 0), freshness: 'reached' });
      }
    }

    // The relay published everything, once: JetStream holds as many messages as $all has events, $all's last last.
    const admin = await natsAdmin(nats.url);
    try {
      for (const [stream, url] of [['restart-main', mainUrl], ['restart-all', startUrl]] as const) {
        const { total } = await stored(url, []);
        await expect.poll(async () => (await admin.jsm.streams.info(stream)).state.messages, { timeout: 30_000, interval: 250 }).toBe(total);
      }
    } finally {
      await admin.close();
    }

    // Leases: exactly one holder of each, on each database; exactly one ledger API seals.
    const holders = async (url: string, name: string) => {
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const { rows } = await db.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((classid::bigint << 32) | objid::bigint) = (hashtext($1)::bigint & x'ffffffffffffffff'::bigint)`,
          [`chronicle-lease:${name}`]);
        return Number(rows[0]!.n);
      } finally {
        await db.end();
      }
    };
    for (const url of [mainUrl, startUrl]) {
      const stream = url === mainUrl ? 'restart-main' : 'restart-all';
      for (const name of ['sealer', `relay:nats:${stream}`, 'read-processor:accounts']) {
        await expect.poll(() => holders(url, name), { timeout: 15_000, interval: 250 }).toBe(1);
      }
    }
    for (const [name, proc] of Object.entries(procs)) {
      await expect.poll(async () => {
        const health = await call(proc.base, 'GET', '/health');
        return health.status === 200 ? 200 : `${name}: ${health.status} ${health.text}`;
      }, { timeout: 15_000, interval: 250 }).toBe(200);
    }
    const sealerStates = await Promise.all([procs.api1, procs.api2].map(async (p) => (await call(p.base, 'GET', '/health')).json().components.sealer.state as string));
    expect(sealerStates.filter((s) => s !== 'standby'), sealerStates.join(', ')).toHaveLength(1);

    // Two writer processes and three restarts left a log that verifies with the public key alone: every
    // stream in order in $all, every chain, leaf and signed checkpoint (no false tamper alarm).
    for (const [url, proc] of [[mainUrl, procs.api1], [startUrl, procs.all]] as const) {
      const { publicKey } = (await call(proc.base, 'GET', '/audit/public-key')).json() as { publicKey: string };
      const run = await promisify(execFile)(process.execPath, [CLI_MAIN, 'verify', '--public-key', publicKey], {
        env: { ...process.env, DATABASE_URL: url, CHRONICLE_DATA_DIR: join(dataDir, 'verifier'), LOG_LEVEL: 'warn' }, timeout: 60_000,
      }).then(({ stdout }) => ({ code: 0, output: stdout }), (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: `${error.stdout}${error.stderr}` }));
      expect(run.code, run.output).toBe(0);
      expect(run.output).toMatch(/\bOK\b/);
    }
  }, 240_000);
});
