// The spec's split deployment, with the REAL CLI: `chronicle ledger-api`, `query-api`, `relay` and
// `read-processor` as four processes (node --import tsx src/cli/main.ts <role>, test/support/cli-process.ts),
// on PostgreSQL (event store in one throwaway database, read store in a SECOND one) and NATS JetStream (a
// stream and subject prefix of this run only). Every request goes over HTTP (fetch) to the process that
// plays the role. How each claim is shown:
// - each role does its job: commands are accepted by ledger-api only, and their effect appears on
//   query-api: a balance or the account list asked with ?minPosition=<the command's globalPosition> answers
//   freshness 'reached' with the right figures, which can only be true if the relay carried the event to
//   JetStream and the read processor applied it to the read store; at the end the JetStream stream holds
//   every event of $all exactly once, in $all's order.
// - role boundaries: a route of another role answers 404 `route_not_found` (query-api: commands and raw
//   streams; ledger-api: balances, the account list, history, projections; relay and read-processor:
//   everything but /health and /metrics), while the same route answers 200 on its own role. Each /health
//   lists the components that role uses (ledger-api: eventStore; query-api: + readStore; relay: + bus,
//   relay; read-processor: + readStore, bus), each `up`, and none it has no business with (e.g. no bus on
//   query-api, no read store on the relay).
// - time travel and history read the event store: with the read processor stopped, a new deposit is
//   missing from the read model (stale) yet ?at=<its instant> and /history already show it; ?at= before a
//   deposit shows the balance before it.
// - freshness when the read processor is down: stopped by SIGTERM (exit 0), a later command's position
//   answers 'stale' with maxWaitMs=200 (the old balance, the model's old position), and GET /projections on
//   query-api reports lag.events > 0 (measured every second: polled); started again, the same query is
//   'reached' and the lag returns to 0.
// - the one-shots: `chronicle projections list` and `projections rebuild accounts` run as processes that
//   exit 0 and print JSON; the rebuild reports every event of $all, and the read model then equals a model
//   computed from $all without the projection's code (test/support/read-model-expectations.ts). A second
//   rebuild runs while commands keep arriving and the live read processor keeps applying them (events
//   commit before and after the rebuild's replay: asserted); once caught up the model again equals $all's,
//   each event applied exactly once, no dead letter.
// - misconfiguration: `chronicle relay` without NATS_URL and `chronicle query-api` without DATABASE_URL exit
//   non-zero with a message naming the variable.
// - every role stops on SIGTERM with exit 0; afterAll SIGKILLs leftovers by their own handles only.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStore } from '../src/adapters/event-store/open-store.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlEventStore } from '../src/adapters/event-store/sql/sql-event-store.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { SqlReadModel } from '../src/adapters/read-model/sql-read-model.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { CLI_ADMIN_KEY, CLI_AUTHORIZATION, spawnCli, type CliProcess } from './support/cli-process.js';
import { deleteStreams, freePort, natsAdmin, natsAvailable, NATS_TEST_URL, readStreamMessages, uniqueBusNames } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';
import { CLI_MAIN } from './support/cli-main.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type ServerRole = 'ledger-api' | 'query-api' | 'relay' | 'read-processor';

interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON (a string for /metrics). */
  body: any;
}

async function request(method: 'GET' | 'POST', url: string, body?: unknown): Promise<Answer> {
  const response = await fetch(url, {
    method,
    // The admin key the processes were started with: it may call every route.
    headers: { authorization: CLI_AUTHORIZATION, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* /metrics is text */ }
  return { status: response.status, headers: response.headers, body: parsed };
}

interface CommandResult {
  eventIds: string[];
  globalPosition: number;
  recordedAt: string;
  balances: Record<string, string>;
}

interface OneShot {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!servicesUp)('split deployment: ledger-api, query-api, relay and read-processor as CLI processes', () => {
  let eventDb: TestDatabase;
  let readDb: TestDatabase;
  let store: SqlEventStore;
  let readSql: SqlClient;
  let readModel: SqlReadModel;
  let admin: Awaited<ReturnType<typeof natsAdmin>>;
  const scratchDir = mkdtempSync(join(tmpdir(), 'chronicle-roles-'));
  const { streamName, subjectPrefix } = uniqueBusNames();
  const spawned: CliProcess[] = [];
  const oneShots: ChildProcess[] = [];
  const roles = {} as Record<ServerRole, CliProcess>;

  const env = (): Record<string, string> => ({
    DATABASE_URL: eventDb.url,
    READ_DATABASE_URL: readDb.url,
    NATS_URL: NATS_TEST_URL,
    NATS_STREAM: streamName,
    NATS_SUBJECT_PREFIX: subjectPrefix,
    LOG_LEVEL: 'warn',
    PG_POOL_MAX: '4',
    // Never the repository's ./.chronicle, whatever a misconfigured process would do.
    CHRONICLE_DATA_DIR: join(scratchDir, 'pglite'),
    CHRONICLE_BOOTSTRAP_KEY: CLI_ADMIN_KEY,
  });

  async function startRole(role: ServerRole): Promise<CliProcess> {
    const proc = spawnCli(role, await freePort(), env());
    spawned.push(proc);
    roles[role] = proc;
    await proc.healthy(30_000);
    return proc;
  }

  /** `chronicle <args…>` as a one-shot: its exit code and output (killed, and a failure, after timeoutMs). */
  function runCli(args: string[], overrides: Record<string, string>, timeoutMs = 30_000): Promise<OneShot> {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env(), PORT: '0', HOST: '127.0.0.1', ...overrides },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    oneShots.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chronicle ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
      }, timeoutMs);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        // Let the pipes drain.
        setImmediate(() => resolve({ code, signal, stdout, stderr }));
      });
    });
  }

  const ledgerApi = (path: string) => `${roles['ledger-api'].base}${path}`;
  const queryApi = (path: string) => `${roles['query-api'].base}${path}`;

  async function command(path: string, body: object): Promise<CommandResult> {
    const answer = await request('POST', ledgerApi(path), body);
    expect(answer.status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`).toBe(201);
    expect(answer.body.globalPosition).toBeGreaterThan(0);
    return answer.body as CommandResult;
  }

  async function balanceAt(accountId: string, minPosition: number, maxWaitMs?: number): Promise<Answer> {
    const wait = maxWaitMs === undefined ? '' : `&maxWaitMs=${maxWaitMs}`;
    const answer = await request('GET', queryApi(`/accounts/${accountId}/balance?minPosition=${minPosition}${wait}`));
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer;
  }

  async function projection(): Promise<Record<string, any>> {
    const answer = await request('GET', queryApi('/projections'));
    expect(answer.status).toBe(200);
    expect(answer.body.projections).toHaveLength(1);
    return answer.body.projections[0];
  }

  async function storedEvents(): Promise<number> {
    return Number((await store.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events'))[0]!.n);
  }

  const outputs = () => Object.values(roles).map((p) => `--- ${p.command} (${p.running() ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`}):\n${p.output()}`).join('\n');

  beforeAll(async () => {
    [eventDb, readDb] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    admin = await natsAdmin();
    // The four roles start together on the empty databases (each migrates / sets its schema up, safely raced).
    await Promise.all((['ledger-api', 'query-api', 'relay', 'read-processor'] as const).map((role) => startRole(role)));
    // The test's own view of the two stores (a ledger-less event store, the read model).
    store = await openEventStore({ kind: 'postgres', url: eventDb.url, poolMax: 2 });
    readSql = createPostgresClient({ connectionString: readDb.url, poolMax: 2 });
    readModel = await SqlReadModel.open(readSql);
  }, 60_000);

  afterAll(async () => {
    // Only the processes this file started, by their own handles.
    await Promise.all(spawned.map((p) => p.signal('SIGKILL')));
    for (const child of oneShots) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (admin) {
      await deleteStreams(admin.jsm, [streamName]);
      await admin.close();
    }
    await store?.close();
    await readSql?.close();
    await eventDb?.drop();
    await readDb?.drop();
    rmSync(scratchDir, { recursive: true, force: true });
  });

  // State carried from one step to the next (the steps run in order, on one deployment).
  const positions: Record<string, number> = {};
  const recorded: Record<string, string> = {};
  const eventIds: Record<string, string[]> = {};
  let lastPosition = 0;

  it('each role is healthy and /health lists the components it uses (each up), and none of another role\'s', async () => {
    // What each role must report, and what it must not (it has no business with that part). Components
    // added later (say, a lease) may appear beside these.
    const components: Record<ServerRole, { has: string[]; hasNot: string[] }> = {
      'ledger-api': { has: ['eventStore'], hasNot: ['readStore', 'bus', 'relay', 'readProcessor'] },
      'query-api': { has: ['eventStore', 'readStore'], hasNot: ['bus', 'relay', 'readProcessor'] },
      relay: { has: ['eventStore', 'bus', 'relay'], hasNot: ['readStore', 'readProcessor'] },
      'read-processor': { has: ['eventStore', 'readStore', 'bus'], hasNot: ['relay'] },
    };
    for (const role of Object.keys(components) as ServerRole[]) {
      const health = await request('GET', `${roles[role].base}/health`);
      expect(health.status, role).toBe(200);
      expect(health.body, role).toMatchObject({ status: 'ok', store: 'postgres' });
      const listed = Object.keys(health.body.components);
      expect(listed, role).toEqual(expect.arrayContaining(components[role].has));
      expect(listed.filter((name) => components[role].hasNot.includes(name)), role).toEqual([]);
      for (const [name, component] of Object.entries(health.body.components as Record<string, { status: string }>)) {
        expect(component.status, `${role} ${name}`).toBe('up');
      }
      expect(health.body.components.eventStore).toMatchObject({ kind: 'postgres' });
      if (listed.includes('bus')) expect(health.body.components.bus, role).toMatchObject({ kind: 'nats', stream: streamName });
      // READ_DATABASE_URL is honoured: the read store is the second database.
      if (listed.includes('readStore')) expect(health.body.components.readStore, role).toMatchObject({ kind: 'postgres', separate: true });
    }
    // The relay is relaying (not a standby, not stopped).
    const relayHealth = (await request('GET', `${roles.relay.base}/health`)).body.components.relay;
    expect(['idle', 'running']).toContain(relayHealth.state);
    // The read processor, when it reports its own state (its lease), is the one consuming, not a standby.
    const processorHealth = (await request('GET', `${roles['read-processor'].base}/health`)).body.components.readProcessor;
    if (processorHealth !== undefined) expect(['starting', 'running']).toContain(processorHealth.state);
  });

  it('commands on ledger-api are read back on query-api with ?minPosition= (reached, right balances)', async () => {
    const steps: { key: string; path: string; body: object; expect: Record<string, string> }[] = [
      { key: 'openA', path: '/commands/create-account', body: { accountId: 'A1', owner: 'Ada Lovelace', currency: 'EUR' }, expect: { A1: '0' } },
      { key: 'openB', path: '/commands/create-account', body: { accountId: 'B2', owner: 'Blaise Pascal', currency: 'EUR' }, expect: { B2: '0' } },
      { key: 'openC', path: '/commands/create-account', body: { accountId: 'C3', owner: 'Charles Babbage', currency: 'GBP' }, expect: { C3: '0' } },
      { key: 'depositA', path: '/commands/deposit', body: { accountId: 'A1', amount: '50000' }, expect: { A1: '50000' } },
      { key: 'withdrawA', path: '/commands/withdraw', body: { accountId: 'A1', amount: 1250 }, expect: { A1: '48750' } },
      { key: 'transferAB', path: '/commands/transfer', body: { fromAccountId: 'A1', toAccountId: 'B2', amount: '700' }, expect: { A1: '48050', B2: '700' } },
      { key: 'depositC', path: '/commands/deposit', body: { accountId: 'C3', amount: '999' }, expect: { C3: '999' } },
    ];
    for (const step of steps) {
      const result = await command(step.path, step.body);
      positions[step.key] = result.globalPosition;
      recorded[step.key] = result.recordedAt;
      eventIds[step.key] = result.eventIds;
      lastPosition = result.globalPosition;
      for (const [accountId, balance] of Object.entries(step.expect)) {
        const answer = await balanceAt(accountId, result.globalPosition);
        expect(answer.body, `${step.key}: ${accountId}`).toMatchObject({
          accountId, balance, freshness: { status: 'reached', minPosition: result.globalPosition },
        });
        expect(answer.headers.get('chronicle-freshness')).toBe('reached');
        expect(answer.body.freshness.position).toBeGreaterThanOrEqual(result.globalPosition);
      }
    }
    expect(positions['transferAB']).toBeGreaterThan(positions['withdrawA']!);

    const list = await request('GET', queryApi(`/accounts?minPosition=${lastPosition}`));
    expect(list.status).toBe(200);
    expect(list.body.freshness).toMatchObject({ status: 'reached', minPosition: lastPosition, position: lastPosition });
    expect(list.body.accounts.map((a: Record<string, unknown>) => ({ accountId: a['accountId'], owner: a['owner'], currency: a['currency'], balance: a['balance'], version: a['version'] }))).toEqual([
      { accountId: 'A1', owner: 'Ada Lovelace', currency: 'EUR', balance: '48050', version: 4 },
      { accountId: 'B2', owner: 'Blaise Pascal', currency: 'EUR', balance: '700', version: 2 },
      { accountId: 'C3', owner: 'Charles Babbage', currency: 'GBP', balance: '999', version: 2 },
    ]);
    expect(list.body.nextAfter).toBeNull();
  }, 20_000);

  it('each role serves only its own routes: another role\'s answers 404 route_not_found', async () => {
    const notServed = async (role: ServerRole, method: 'GET' | 'POST', path: string, body?: object) => {
      const answer = await request(method, `${roles[role].base}${path}`, body);
      expect({ role, method, path, status: answer.status, code: answer.body?.error?.code }).toEqual({ role, method, path, status: 404, code: 'route_not_found' });
    };
    const served = async (role: ServerRole, method: 'GET' | 'POST', path: string) => {
      const answer = await request(method, `${roles[role].base}${path}`);
      expect({ role, path, status: answer.status }).toEqual({ role, path, status: 200 });
      return answer;
    };
    const deposit = { accountId: 'A1', amount: '1' };

    // query-api: no commands, no raw log.
    await notServed('query-api', 'POST', '/commands/deposit', deposit);
    await notServed('query-api', 'POST', '/commands/create-account', { accountId: 'Q9', owner: 'Nobody', currency: 'EUR' });
    await notServed('query-api', 'GET', '/streams/$all');
    await served('query-api', 'GET', '/accounts/A1/balance');
    await served('query-api', 'GET', '/accounts/A1/history');
    await served('query-api', 'GET', '/projections');

    // ledger-api: no read-model queries, no projections.
    await notServed('ledger-api', 'GET', '/accounts/A1/balance');
    await notServed('ledger-api', 'GET', '/accounts');
    await notServed('ledger-api', 'GET', '/accounts/A1/history');
    await notServed('ledger-api', 'GET', '/projections');
    await notServed('ledger-api', 'POST', '/projections/accounts/reset');
    const all = await served('ledger-api', 'GET', '/streams/$all');
    // 3 accounts opened, 3 deposits and withdrawals, a transfer of 2 events.
    expect(all.body.events.map((e: { eventId: string }) => e.eventId).sort()).toEqual(Object.values(eventIds).flat().sort());
    expect(all.body.events).toHaveLength(8);

    // relay and read-processor: /health and /metrics only.
    for (const role of ['relay', 'read-processor'] as const) {
      await notServed(role, 'POST', '/commands/deposit', deposit);
      await notServed(role, 'GET', '/accounts/A1/balance');
      await notServed(role, 'GET', '/accounts');
      await notServed(role, 'GET', '/accounts/A1/history');
      await notServed(role, 'GET', '/projections');
      await notServed(role, 'GET', '/streams/$all');
      await served(role, 'GET', '/health');
    }
    // Each one's /metrics counts its own work: the relay published, the read processor applied.
    const relayMetrics = (await served('relay', 'GET', '/metrics')).body as string;
    expect(relayMetrics).toMatch(/^chronicle_relay_events_published_total [1-9]\d*$/m);
    const processorMetrics = (await served('read-processor', 'GET', '/metrics')).body as string;
    expect(processorMetrics).toMatch(/^chronicle_projection_events_total\{[^}]*projection="accounts"[^}]*\} [1-9]\d*$/m);

    // Nothing was written by the refused commands.
    const history = await request('GET', queryApi('/accounts/A1/history'));
    expect(history.body.version).toBe(4);
    expect((await request('GET', queryApi('/accounts/Q9/balance'))).status).toBe(404);
  }, 20_000);

  it('time travel and history on query-api: ?at= shows the balance as it stood, /history lists the events', async () => {
    // At the withdrawal's instant: before the transfer, 48750 (now 48050).
    const before = await request('GET', queryApi(`/accounts/A1/balance?at=${recorded['withdrawA']}`));
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ accountId: 'A1', balance: '48750', version: 3, globalPosition: positions['withdrawA'] });
    // At the account's opening: 0, before the first deposit.
    const opened = await request('GET', queryApi(`/accounts/A1/balance?at=${recorded['openA']}`));
    expect(opened.body).toMatchObject({ balance: '0', version: 1 });
    // Before it existed.
    const never = await request('GET', queryApi('/accounts/A1/balance?at=2000-01-01T00:00:00Z'));
    expect({ status: never.status, code: never.body.error?.code }).toEqual({ status: 404, code: 'account_not_found' });

    const history = await request('GET', queryApi('/accounts/A1/history'));
    expect(history.status).toBe(200);
    // The transfer is one command, two events (TransferSent on A1, TransferReceived on B2); its response's
    // globalPosition is its last event's.
    const [sentId, receivedId] = eventIds['transferAB']!;
    expect(history.body.entries.map((e: Record<string, unknown>) => [e['type'], e['version'], e['eventId'], e['amount'] ?? null, e['balanceAfter']])).toEqual([
      ['AccountCreated', 1, eventIds['openA']![0], null, '0'],
      ['MoneyDeposited', 2, eventIds['depositA']![0], '50000', '50000'],
      ['MoneyWithdrawn', 3, eventIds['withdrawA']![0], '1250', '48750'],
      ['TransferSent', 4, sentId, '700', '48050'],
    ]);
    expect(history.body.entries.slice(0, 3).map((e: { globalPosition: number }) => e.globalPosition)).toEqual([positions['openA'], positions['depositA'], positions['withdrawA']]);
    expect(history.body.entries[3]).toMatchObject({ counterpartyAccountId: 'B2' });
    expect(history.body.version).toBe(4);
    expect(history.body.nextFromVersion).toBeNull();
    const received = await request('GET', queryApi('/accounts/B2/history?fromVersion=2'));
    expect(received.body.entries).toEqual([expect.objectContaining({
      type: 'TransferReceived', version: 2, eventId: receivedId, globalPosition: positions['transferAB'], counterpartyAccountId: 'A1', amount: '700', balanceAfter: '700',
    })]);
    expect(received.body.entries[0].transferId).toBe(history.body.entries[3].transferId);
  });

  it('with the read processor stopped, queries say stale and /projections reports lag; started again, reached', async () => {
    const processor = roles['read-processor'];
    await processor.signal('SIGTERM');
    expect({ code: processor.child.exitCode, signal: processor.child.signalCode }).toEqual({ code: 0, signal: null });
    const modelPosition = lastPosition;

    const deposit = await command('/commands/deposit', { accountId: 'A1', amount: '1000' });
    positions['depositA2'] = deposit.globalPosition;
    recorded['depositA2'] = deposit.recordedAt;
    expect(deposit.balances).toEqual({ A1: '49050' });

    // The relay still carries it to JetStream: the bus runs without a consumer.
    await expect.poll(async () => (await admin.jsm.streams.info(streamName)).state.messages === (await storedEvents()), { timeout: 10_000, interval: 100, message: 'the relay to publish the deposit' }).toBe(true);

    // The read model does not have it: stale after the 200 ms asked, the old balance at the old position.
    const stale = await balanceAt('A1', deposit.globalPosition, 200);
    expect(stale.body).toMatchObject({ balance: '48050', version: 4, freshness: { status: 'stale', minPosition: deposit.globalPosition, position: modelPosition } });
    expect(stale.body.freshness.waitedMs).toBeGreaterThanOrEqual(200);
    expect(stale.headers.get('chronicle-freshness')).toBe('stale');
    const staleList = await request('GET', queryApi(`/accounts?minPosition=${deposit.globalPosition}&maxWaitMs=200`));
    expect(staleList.body.freshness).toMatchObject({ status: 'stale', position: modelPosition });

    // The event store has it: time travel and history read the store, not the model.
    const now = await request('GET', queryApi(`/accounts/A1/balance?at=${deposit.recordedAt}`));
    expect(now.body).toMatchObject({ balance: '49050', version: 5, globalPosition: deposit.globalPosition });
    const past = await request('GET', queryApi(`/accounts/A1/balance?at=${recorded['transferAB']}`));
    expect(past.body).toMatchObject({ balance: '48050', version: 4 });
    const history = await request('GET', queryApi('/accounts/A1/history?fromVersion=5'));
    expect(history.body.entries).toEqual([expect.objectContaining({ type: 'MoneyDeposited', version: 5, globalPosition: deposit.globalPosition, amount: '1000', balanceAfter: '49050' })]);

    // The lag monitor (every second) sees the event waiting.
    let seen: Record<string, any> = {};
    await expect.poll(async () => (seen = await projection()).lag?.events ?? 0, { timeout: 5_000, interval: 100, message: 'GET /projections to report lag' }).toBeGreaterThan(0);
    expect(seen).toMatchObject({ name: 'accounts', consumer: 'elsewhere', position: modelPosition, status: 'behind', lag: { events: 1 } });
    expect(seen['lag'].ms).toBeGreaterThan(0);

    // Started again: the durable consumer resumes, the same query is reached.
    await startRole('read-processor');
    const reached = await balanceAt('A1', deposit.globalPosition);
    expect(reached.body).toMatchObject({ balance: '49050', version: 5, freshness: { status: 'reached', minPosition: deposit.globalPosition, position: deposit.globalPosition } });
    lastPosition = deposit.globalPosition;
    await expect.poll(async () => (seen = await projection()).lag?.events ?? -1, { timeout: 5_000, interval: 100, message: 'the lag to return to 0' }).toBe(0);
    expect(seen).toMatchObject({ status: 'caught-up', position: deposit.globalPosition });
  }, 45_000);

  it('`projections list` and `projections rebuild accounts` run as one-shot processes; the rebuilt model equals $all\'s', async () => {
    const events = await allEvents(store);
    const last = events.at(-1)!;
    expect(last.globalPosition).toBe(lastPosition);

    const list = await runCli(['projections', 'list'], {});
    expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: '' });
    const listed = JSON.parse(list.stdout);
    expect(listed).toEqual({ projections: [expect.objectContaining({ name: 'accounts', position: last.globalPosition, eventsApplied: events.length, deadLetters: 0, status: 'caught-up' })] });
    expect(listed.projections[0].lag).toMatchObject({ events: 0 });

    // Quiet: the rebuild replays every event of $all; the model is then exactly $all's.
    const rebuilt = await runCli(['projections', 'rebuild', 'accounts'], {});
    expect({ code: rebuilt.code, stderr: rebuilt.stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(rebuilt.stdout);
    expect(report).toMatchObject({ name: 'accounts', status: 'rebuilt', report: { events: events.length, deadLettered: 0, position: last.globalPosition } });
    expect(await readModel.contents()).toEqual(expectedModel(events));
    expect(await readModel.checkpoint('accounts')).toMatchObject({ position: last.globalPosition, eventsApplied: events.length });
    // query-api (another process) serves the rebuilt model.
    const afterRebuild = await request('GET', queryApi(`/accounts?minPosition=${last.globalPosition}&maxWaitMs=0`));
    expect(afterRebuild.body.freshness.status).toBe('reached');
    expect(afterRebuild.body.accounts.map((a: { accountId: string; balance: string }) => [a.accountId, a.balance])).toEqual([['A1', '49050'], ['B2', '700'], ['C3', '999']]);
  }, 30_000);

  it('a rebuild while commands arrive and the live read processor applies them ends with the model equal to $all\'s', async () => {
    // A steady stream of commands from before the rebuild process starts until after it has exited.
    let stop = false;
    let lastCommand = 0;
    let sent = 0;
    const traffic = (async () => {
      for (let i = 0; !stop; i += 1) {
        const result = i % 3 === 2
          ? await command('/commands/transfer', { fromAccountId: 'A1', toAccountId: 'B2', amount: '3' })
          : await command('/commands/deposit', { accountId: i % 2 === 0 ? 'B2' : 'C3', amount: String(10 + i) });
        lastCommand = result.globalPosition;
        sent += 1;
        await sleep(15);
      }
    })();
    try {
      await expect.poll(async () => sent, { timeout: 5_000, interval: 100, message: 'traffic to start' }).toBeGreaterThanOrEqual(3);
      const before = await storedEvents();
      const rebuilt = await runCli(['projections', 'rebuild', 'accounts'], {});
      await sleep(300);
      stop = true;
      await traffic;
      const after = await storedEvents();
      expect({ code: rebuilt.code, stderr: rebuilt.stderr }).toEqual({ code: 0, stderr: '' });
      const report = JSON.parse(rebuilt.stdout);
      expect(report).toMatchObject({ name: 'accounts', status: 'rebuilt', report: { deadLettered: 0 } });
      // Events committed while the rebuild process ran, before its replay and after it: the live read
      // processor had work on both sides of the rebuild.
      expect(report.report.events).toBeGreaterThan(before);
      expect(report.report.events).toBeLessThan(after);
    } finally {
      stop = true;
      await traffic.catch(() => {});
    }

    // Caught up: the model is $all's, each event applied exactly once.
    const reached = await request('GET', queryApi(`/accounts?minPosition=${lastCommand}`));
    expect(reached.body.freshness.status).toBe('reached');
    const events = await allEvents(store);
    const last = events.at(-1)!;
    // Polls 'reached', else where things stand (shown when it times out).
    await expect.poll(async () => {
      const checkpoint = await readModel.checkpoint('accounts');
      return checkpoint?.position === last.globalPosition ? 'reached' : `checkpoint ${JSON.stringify(checkpoint)}, last ${last.globalPosition}\n${outputs()}`;
    }, { timeout: 10_000, interval: 100, message: 'the read model to reach $all\'s last event' }).toBe('reached');
    const contents = await readModel.contents();
    expect(contents).toEqual(expectedModel(events));
    expect(new Set(contents.transactions.map((t) => t.eventId)).size).toBe(contents.transactions.length);
    expect(await readModel.checkpoint('accounts')).toMatchObject({ position: last.globalPosition, eventsApplied: events.length });
    expect(await readModel.deadLetterCount('accounts')).toBe(0);
    lastPosition = last.globalPosition;
  }, 40_000);

  it('a role without the variable it needs exits non-zero naming it', async () => {
    const [relay, queryApiWithoutDb] = await Promise.all([
      runCli(['relay'], { NATS_URL: '' }),
      runCli(['query-api'], { DATABASE_URL: '' }),
    ]);
    expect(relay.code).not.toBe(0);
    expect(relay.code).not.toBeNull();
    expect(relay.stderr).toMatch(/relay needs NATS_URL/);
    expect(queryApiWithoutDb.code).not.toBe(0);
    expect(queryApiWithoutDb.code).not.toBeNull();
    expect(queryApiWithoutDb.stderr).toMatch(/query-api needs DATABASE_URL/);
  }, 30_000);

  it('the relay published every event once in $all\'s order, and every role stops on SIGTERM with exit 0', async () => {
    const events = await allEvents(store);
    await expect.poll(async () => (await admin.jsm.streams.info(streamName)).state.messages, { timeout: 10_000, interval: 100, message: 'the stream to hold every event' }).toBeGreaterThanOrEqual(events.length);
    const messages = await readStreamMessages(admin.jsm, streamName);
    expect(messages.map((m) => m.msgId)).toEqual(events.map((e: RecordedEvent) => e.eventId));
    expect(messages.every((m) => m.subject.startsWith(`${subjectPrefix}.`))).toBe(true);

    const running = Object.values(roles);
    expect(running.map((p) => [p.command, p.running()])).toEqual(running.map((p) => [p.command, true]));
    await Promise.all(running.map((p) => p.signal('SIGTERM')));
    expect(running.map((p) => [p.command, p.child.exitCode, p.child.signalCode])).toEqual(running.map((p) => [p.command, 0, null]));
  }, 30_000);
});
